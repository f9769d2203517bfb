"""Project path rules shared by the API (lexical) and the scanner (symlinks resolved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.paths import PathRefused, check_under_roots, normalize, resolve_under_roots, within


def test_normalize_resolves_dots_lexically() -> None:
    assert normalize("/projects/a/./b/../c/") == "/projects/a/c"
    assert normalize("//projects//a") == "/projects/a"
    for bad in ("relative", "", "/a\x00b"):
        with pytest.raises(PathRefused):
            normalize(bad)


def test_within_compares_whole_segments() -> None:
    assert within("/projects/a", "/projects") and within("/projects", "/projects/")
    assert not within("/projectsx/a", "/projects") and not within("/", "/projects")
    assert within("/anything", "/")


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/projects/app", True),
        ("/srv/code", True),
        ("/projects/../etc/passwd", False),
        ("/projects/app/../../etc", False),
        ("/projectsx", False),
        ("/etc", False),
    ],
)
def test_check_under_roots(path: str, ok: bool) -> None:
    roots = ("/projects", "/srv/code/")
    if ok:
        assert check_under_roots(path, roots) == normalize(path)
    else:
        with pytest.raises(PathRefused):
            check_under_roots(path, roots)


def test_the_scanner_resolves_symlinks_before_checking(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "app").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "inner").symlink_to(root / "app")
    assert resolve_under_roots(str(root / "app"), [str(root)]) == str((root / "app").resolve())
    assert resolve_under_roots(str(root / "inner"), [str(root)]) == str((root / "app").resolve())
    with pytest.raises(PathRefused, match="outside the project roots"):
        resolve_under_roots(str(root / "escape"), [str(root)])
    with pytest.raises(PathRefused, match="not a directory"):
        resolve_under_roots(str(root / "missing"), [str(root)])
    with pytest.raises(PathRefused, match="no project roots"):
        resolve_under_roots(str(root / "app"), [])


def test_a_root_that_is_itself_a_symlink_still_works(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "app").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(real)
    assert resolve_under_roots(str(tmp_path / "alias" / "app"), [str(tmp_path / "alias")]) == str(
        (real / "app").resolve()
    )
