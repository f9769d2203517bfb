"""The API's warm cache of code indexes: downloaded once into Settings.search_cache_dir (/tmp in
Lambda) and kept open for the life of the process. Each project item carries the ETag of its
current index (written by the scan), so freshness costs no extra request: a cached index whose
ETag matches is used as is; otherwise a conditional GET (If-None-Match: the cached ETag) fetches
the newer index, or answers 304 when the cache already holds it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.config import get_settings
from chalicelib.search import index, storage


@dataclass
class _Open:
    etag: str
    conn: sqlite3.Connection
    path: str
    size: int
    used: float = 0.0


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
    cached; None when the object is missing or of another schema version (written by an older
    scanner: the project's next scan rebuilds it)."""
    key, wanted = reference["key"], reference["etag"]
    held = _open.get(key)
    if held is not None and held.etag == wanted:
        held.used = time.monotonic()
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
        held.used = time.monotonic()
        return held.conn
    if held is not None:
        held.conn.close()
    conn = index.open_for_reading(path)
    if not index.is_current(conn):
        conn.close()
        return None
    _open[key] = _Open(str(cached), conn, path, os.path.getsize(path), time.monotonic())
    _evict(keep=key)
    return conn


def _evict(keep: str) -> None:
    """Keep the cache within Settings.search_cache_max_bytes (Lambda's /tmp is small): close and
    delete the least recently used indexes, never the one just asked for."""
    limit = get_settings().search_cache_max_bytes
    total = sum(held.size for held in _open.values())
    for key, held in sorted(_open.items(), key=lambda item: item[1].used):
        if total <= limit:
            return
        if key == keep:
            continue
        held.conn.close()
        for leftover in (held.path, held.path + ".etag"):
            with contextlib.suppress(OSError):
                os.remove(leftover)
        del _open[key]
        total -= held.size


def clear() -> None:
    """Close every cached index (tests; a process that changes settings)."""
    for held in _open.values():
        held.conn.close()
    _open.clear()
