"""The scanner on real trees: every detected field, the walk's exclusions, the error finders."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.scan_trees import BROKEN_PROJECT, NODE_APP, PYTHON_WEB_APP, link, write
from workers.scan.scanner import scan


def run(root: Path, max_bytes: int = 1 << 20) -> dict[str, Any]:
    return scan(str(root), str(root.parent / f"{root.name}.sqlite"), max_bytes=max_bytes, processes=1).summary


@pytest.fixture(scope="module")
def python_app(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(write(tmp_path_factory.mktemp("py") / "shop", PYTHON_WEB_APP))


@pytest.fixture(scope="module")
def node_app(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(write(tmp_path_factory.mktemp("node") / "dashboard", NODE_APP))


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run(write(tmp_path_factory.mktemp("broken") / "broken", BROKEN_PROJECT))


def test_python_web_app_stack_counts_and_coverage(python_app: dict[str, Any]) -> None:
    assert python_app["tech_stack"] == ["python", "flask", "postgresql", "redis", "docker"]
    meta = python_app["metadata"]
    assert meta["lines_of_code"] == 17  # python 15 + Dockerfile 2
    assert meta["test_coverage"] == 78.5  # from coverage.xml, although .gitignore lists it
    assert meta["dependencies"] == 3
    assert meta["languages"]["python"] == {"files": 4, "code": 15, "comments": 2, "blanks": 9}
    assert meta["languages"]["dockerfile"] == {"files": 1, "code": 2, "comments": 1, "blanks": 0}
    assert meta["languages"]["markdown"] == {"files": 1, "code": 2, "comments": 0, "blanks": 1}
    assert meta["tests"] == {"files": 1, "lines_of_code": 3}
    assert python_app["errors"] == []
    assert python_app["readme"].startswith("# Shop")


def test_python_web_app_skips_ignored_vendored_generated_and_binary(python_app: dict[str, Any]) -> None:
    meta = python_app["metadata"]
    # debug.log and secret/ (.gitignore), node_modules/, app.min.js and gen/schema.py, logo.png
    assert meta["files_skipped"] == {"binary": 1, "generated": 2, "ignored": 2, "vendored": 1}
    assert meta["files_scanned"] == 11


def test_python_web_app_scores(python_app: dict[str, Any]) -> None:
    # docs/scores.md, "the Python web app of the tests"
    assert (python_app["health_score"], python_app["vibe_score"], python_app["eco_score"]) == (80, 93, 57)


def test_node_app(node_app: dict[str, Any]) -> None:
    assert node_app["tech_stack"] == ["typescript", "javascript", "react", "express", "redis"]
    meta = node_app["metadata"]
    assert meta["languages"]["typescript"] == {"files": 2, "code": 9, "comments": 3, "blanks": 1}
    assert meta["lines_of_code"] == 9
    assert meta["dependencies"] == 5
    assert meta["test_coverage"] == 65.0  # lcov: 13 of 20 lines
    assert meta["tests"] == {"files": 1, "lines_of_code": 3}
    assert node_app["errors"] == []  # tsconfig.json has comments: JSONC, not an error
    assert (node_app["health_score"], node_app["vibe_score"], node_app["eco_score"]) == (91, 70, 92)


def test_broken_project_errors_with_file_line_and_message(broken: dict[str, Any]) -> None:
    found = [(e["type"], e["file"], e["line"], e["message"]) for e in broken["errors"]]
    assert found == [
        ("manifest", "Cargo.toml", 3, "Invalid TOML: Invalid value (at line 3, column 11)"),
        ("dockerfile", "Dockerfile", 2, "RUN before the first FROM"),
        ("manifest", "config.yaml", 2, "Invalid YAML: did not find expected ',' or ']'"),
        ("dockerfile", "docker/Dockerfile.dev", None, "Dockerfile has no FROM instruction"),
        ("syntax", "lib/util.py", 1, "Invalid syntax"),
        ("syntax", "main.py", 4, "Unexpected indent"),
        ("manifest", "package.json", 2, "Invalid JSON: Expecting property name enclosed in double quotes"),
    ]
    assert broken["health_score"] == 0  # 7 errors: the error factor is 0 and there are no tests


def test_symlinks_out_of_the_project_are_never_followed(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"secret.py": "x = 1\n", "lib/more.py": "y = 2\n"})
    root = write(tmp_path / "proj", {"main.py": "print(1)\n", "lib/real.py": "z = 3\n"})
    link(outside / "secret.py", root / "leak.py")
    link(outside / "lib", root / "leakdir")
    link("lib", root / "alias")  # a directory link inside the project is not entered either
    link(root / "lib" / "real.py", root / "inside_link.py")  # a file link that stays inside: read
    summary = run(root)
    assert summary["metadata"]["languages"]["python"]["files"] == 3  # main, lib/real, inside_link
    assert summary["metadata"]["files_skipped"] == {"symlink": 3}


def test_oversize_files_are_skipped(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {"small.py": "x = 1\n", "big.py": "y = 2\n" * 100})
    summary = run(root, max_bytes=100)
    assert summary["metadata"]["files_skipped"] == {"oversize": 1}
    assert summary["metadata"]["lines_of_code"] == 1


def test_nested_gitignore_and_reinclusion(tmp_path: Path) -> None:
    root = write(
        tmp_path / "p",
        {
            ".gitignore": "*.py\n!keep.py\n",
            "drop.py": "a = 1\n",
            "keep.py": "b = 1\n",
            "sub/.gitignore": "!local.py\n",
            "sub/local.py": "c = 1\n",
            "sub/other.py": "d = 1\n",
        },
    )
    summary = run(root)
    assert summary["metadata"]["languages"]["python"]["files"] == 2  # keep.py, sub/local.py
    assert summary["metadata"]["files_skipped"] == {"ignored": 2}


def test_rescan_reads_only_changed_files(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {"a.py": "a = 1\n", "b.py": "b = 1\n", "c.py": "c = 1\n"})
    index_path = str(tmp_path / "i.sqlite")
    first = scan(str(root), index_path, max_bytes=1 << 20, processes=1)
    assert (first.files_read, first.files_reused) == (3, 0)
    again = scan(str(root), index_path, max_bytes=1 << 20, processes=1)
    assert (again.files_read, again.files_reused, again.files_removed) == (0, 3, 0)
    (root / "b.py").write_text("b = 2\nbb = 3\n")
    (root / "c.py").unlink()
    write(root, {"d.py": "def f(:\n"})
    third = scan(str(root), index_path, max_bytes=1 << 20, processes=1)
    assert (third.files_read, third.files_reused, third.files_removed) == (2, 1, 1)
    assert third.summary["metadata"]["lines_of_code"] == 4
    assert [e["file"] for e in third.summary["errors"]] == ["d.py"]


def test_parallel_scan_finds_the_same_as_a_serial_one(tmp_path: Path) -> None:
    files = {f"pkg/m{i:03d}.py": f"def handler_{i}(requestBody):\n    return {i}\n" for i in range(80)}
    root = write(tmp_path / "p", files)
    serial = scan(str(root), str(tmp_path / "s.sqlite"), max_bytes=1 << 20, processes=1).summary
    parallel = scan(str(root), str(tmp_path / "q.sqlite"), max_bytes=1 << 20, processes=2).summary
    assert parallel == serial
    assert serial["metadata"]["lines_of_code"] == 160
    assert os.path.getsize(tmp_path / "q.sqlite") > 0
