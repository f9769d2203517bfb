"""Which files of a project the scanner reads: everything under the project directory except what
.gitignore excludes (nested .gitignore files included), vendored and generated directories, files
over the size limit, and symlinks that lead out of the project (symlinked directories are never
entered, so a link cannot loop or escape)."""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass, field

import pathspec

# Directories that hold other people's code or build output, never the project's own.
SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "bower_components", "vendor", "third_party", "__pycache__",
        ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "dist", "build",
        "target", ".next", ".nuxt", ".gradle", ".idea", ".terraform", "site-packages", ".eggs", "htmlcov",
        ".cache", "coverage",
    }
)  # fmt: skip
GENERATED_SUFFIXES = (".min.js", ".min.css", ".map", "_pb2.py", "_pb2_grpc.py", ".pb.go", ".pyc", ".pyo")
# Coverage reports are read where tools write them, even when .gitignore (rightly) excludes them.
COVERAGE_FILES = (
    "coverage.json", "coverage.xml", "lcov.info", "coverage/lcov.info", "coverage/coverage-summary.json",
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    rel: str  # POSIX path relative to the project root
    path: str  # absolute path to read
    size: int
    mtime_ns: int


@dataclass
class Walk:
    entries: list[Entry] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _ignore_spec(directory: str) -> pathspec.PathSpec | None:
    try:
        with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def _ignored(rel: str, is_dir: bool, specs: list[tuple[str, pathspec.PathSpec]]) -> bool:
    """Git semantics: each .gitignore speaks for paths relative to its own directory; a later
    (deeper) file can re-include what an earlier one excluded."""
    verdict = False
    for base, spec in specs:
        sub = rel[len(base) + 1 :] if base else rel
        if is_dir:
            sub += "/"
        result = spec.check_file(sub)
        if result.include is not None:
            verdict = result.include
    return verdict


def walk(root: str, max_bytes: int) -> Walk:
    """The project's files, sorted by relative path. `root` must be a real (resolved) directory."""
    found = Walk()
    seen: set[str] = set()
    _walk_dir(root, "", [], max_bytes, found, seen)
    for rel in COVERAGE_FILES:
        if rel not in seen:
            _add_file(root, rel, os.path.join(root, rel), max_bytes, found, seen, quiet=True)
    found.entries.sort(key=lambda entry: entry.rel)
    return found


def _walk_dir(
    root: str,
    rel_dir: str,
    specs: list[tuple[str, pathspec.PathSpec]],
    max_bytes: int,
    found: Walk,
    seen: set[str],
) -> None:
    directory = os.path.join(root, rel_dir) if rel_dir else root
    spec = _ignore_spec(directory)
    if spec is not None:
        specs = [*specs, (rel_dir, spec)]
    try:
        with os.scandir(directory) as it:
            children = sorted(it, key=lambda e: e.name)
    except OSError:
        found.skipped["unreadable"] += 1
        return
    for child in children:
        rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
        if child.is_symlink():
            if child.is_dir():  # follows the link: a linked directory is never entered
                found.skipped["symlink"] += 1
                continue
            _add_file(root, rel, child.path, max_bytes, found, seen, link=True, specs=specs)
            continue
        if child.is_dir(follow_symlinks=False):
            if child.name in SKIPPED_DIRS or child.name.endswith(".egg-info"):
                found.skipped["vendored"] += 1
            elif specs and _ignored(rel, True, specs):
                found.skipped["ignored"] += 1
            else:
                _walk_dir(root, rel, specs, max_bytes, found, seen)
        elif child.is_file(follow_symlinks=False):
            _add_file(root, rel, child.path, max_bytes, found, seen, specs=specs, entry=child)


def _add_file(
    root: str,
    rel: str,
    path: str,
    max_bytes: int,
    found: Walk,
    seen: set[str],
    *,
    link: bool = False,
    quiet: bool = False,
    specs: list[tuple[str, pathspec.PathSpec]] | None = None,
    entry: os.DirEntry[str] | None = None,
) -> None:
    name = rel.rsplit("/", 1)[-1]
    if specs and rel not in COVERAGE_FILES and _ignored(rel, False, specs):
        found.skipped["ignored"] += 1
        return
    if name.endswith(GENERATED_SUFFIXES):
        found.skipped["generated"] += 1
        return
    if link:
        real = os.path.realpath(path)
        if not (real == root or real.startswith(root.rstrip("/") + "/")):
            found.skipped["symlink"] += 1  # leads out of the project: never read
            return
        path = real
    try:
        info = entry.stat(follow_symlinks=False) if entry is not None else os.stat(path)
    except OSError:
        if not quiet:
            found.skipped["unreadable"] += 1
        return
    if not stat.S_ISREG(info.st_mode):
        return
    if info.st_size > max_bytes:
        found.skipped["oversize"] += 1
        return
    seen.add(rel)
    found.entries.append(Entry(rel, path, info.st_size, info.st_mtime_ns))
