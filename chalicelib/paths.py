"""Project paths and the roots they must lie under. Stdlib only: the API checks a path lexically
when a project is created (the files may live on another host), the scanner checks it again on
the host after resolving symlinks, with the same rules.

No roots configured: the scanner refuses every path (it would otherwise read anything the worker
can read); the API accepts any absolute path in the `local` stage only.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable


class PathRefused(ValueError):
    """A path that must not be used as (or inside) a project."""


def normalize(path: str) -> str:
    """An absolute POSIX path with `.` and `..` resolved lexically (no file system access)."""
    if not path.startswith("/"):
        raise PathRefused("must be an absolute path")
    if "\x00" in path:
        raise PathRefused("must not contain NUL")
    return posixpath.normpath(path).replace("//", "/")


def within(path: str, root: str) -> bool:
    """Whether normalized `path` is `root` or lies below it (`/projectsx` is not below `/projects`)."""
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def check_under_roots(path: str, roots: Iterable[str]) -> str:
    """Lexical check (the API's): the normalized path, or PathRefused."""
    clean = normalize(path)
    roots = [normalize(root) for root in roots]
    if not any(within(clean, root) for root in roots):
        raise PathRefused(f"must lie under one of the project roots: {', '.join(roots)}")
    return clean


def resolve_under_roots(path: str, roots: Iterable[str]) -> str:
    """The scanner's check: symlinks resolved on both sides, then the lexical rule. Returns the real
    path of the project directory, or raises PathRefused."""
    roots = list(roots)
    if not roots:
        raise PathRefused("no project roots are configured on this host (BORGOS_PROJECT_ROOTS)")
    real = os.path.realpath(normalize(path))
    real_roots = [os.path.realpath(normalize(root)) for root in roots]
    if not any(within(real, root) for root in real_roots):
        raise PathRefused(f"{path} resolves outside the project roots: {', '.join(roots)}")
    if not os.path.isdir(real):
        raise PathRefused(f"{path} is not a directory on this host")
    return real


def inside(real_path: str, real_root: str) -> bool:
    """Whether a path found while walking a project still lies inside it after resolving symlinks."""
    return within(os.path.realpath(real_path), real_root)
