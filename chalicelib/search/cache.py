"""The API's warm cache of code indexes: downloaded once into Settings.search_cache_dir (/tmp in
Lambda) and kept open for the life of the process. Each project item carries the ETag of its
current index (written by the scan), so freshness costs no extra request: a cached index whose
ETag matches is used as is; otherwise a conditional GET (If-None-Match: the cached ETag) fetches
the newer index, or answers 304 when the cache already holds it."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from chalicelib.config import get_settings
from chalicelib.search import index, storage


@dataclass
class _Open:
    etag: str
    conn: sqlite3.Connection


_open: dict[str, _Open] = {}


def _local_path(key: str) -> str:
    directory = get_settings().search_cache_dir
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, hashlib.sha256(key.encode()).hexdigest()[:32] + ".sqlite")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def connection(reference: dict[str, Any]) -> sqlite3.Connection | None:
    """An open index for a project's index reference ({key, etag}), fetched if it is not the one
    cached; None when the object is missing."""
    key, wanted = reference["key"], reference["etag"]
    held = _open.get(key)
    if held is not None and held.etag == wanted:
        return held.conn
    path = _local_path(key)
    cached = _read(path + ".etag") if os.path.exists(path) else None
    if cached != wanted:
        fetched = storage.download(key, path, if_none_match=cached)
        if fetched is not None:
            cached = fetched
            with open(path + ".etag", "w", encoding="utf-8") as handle:
                handle.write(fetched)
        elif cached is None:
            return None
    if held is not None and held.etag == cached:
        return held.conn
    if held is not None:
        held.conn.close()
    conn = index.open_for_reading(path)
    _open[key] = _Open(str(cached), conn)
    return conn


def clear() -> None:
    """Close every cached index (tests; a process that changes settings)."""
    for held in _open.values():
        held.conn.close()
    _open.clear()
