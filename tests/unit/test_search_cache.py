"""The API's index cache: downloads once, reuses across 'processes' by ETag, conditional GETs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.search import cache, index, storage
from tests.support.scan_trees import write
from workers.scan.scanner import scan


@pytest.fixture
def s3(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from chalicelib import aws as aws_clients
    from chalicelib.config import get_settings, reset_settings

    monkeypatch.setenv("BORGOS_SEARCH_CACHE_DIR", str(tmp_path / "cache"))
    reset_settings()
    cache.clear()
    aws_clients.client("s3").create_bucket(Bucket=get_settings().bucket_name)
    yield tmp_path
    cache.clear()


def build(tmp_path: Path, name: str, files: dict[str, str]) -> str:
    root = write(tmp_path / name, files)
    path = str(tmp_path / f"{name}.sqlite")
    scan(str(root), path, max_bytes=1 << 20, processes=1)
    return path


def test_download_once_then_conditional_gets_only(s3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None, str | None]] = []
    real = storage.download

    def counting(key: str, destination: str, *, if_none_match: str | None = None) -> str | None:
        result = real(key, destination, if_none_match=if_none_match)
        calls.append((key, if_none_match, result))
        return result

    monkeypatch.setattr(storage, "download", counting)
    first = storage.upload("t", 1, build(s3, "a", {"a.py": "def alpha():\n    pass\n"}))
    conn = cache.connection(first)
    assert conn is not None and [h.line for h in index.search(conn, "alpha", 5)] == [1]
    assert calls == [(first["key"], None, first["etag"])]
    assert cache.connection(first) is conn and len(calls) == 1  # warm: no request at all

    cache._open.clear()  # a new process on the same /tmp: the file and its ETag are reused
    assert cache.connection(first) is not None and len(calls) == 1

    # The project points at a newer index: one conditional GET fetches it.
    second = storage.upload("t", 1, build(s3, "b", {"a.py": "def beta():\n    pass\n"}))
    conn = cache.connection(second)
    assert calls[-1] == (first["key"], first["etag"], second["etag"])
    assert conn is not None and index.search(conn, "alpha", 5) == [] and index.search(conn, "beta", 5)


def test_a_stale_reference_gets_a_304_and_keeps_the_newer_file(
    s3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = storage.upload("t", 2, build(s3, "a", {"a.py": "x = 1\n"}))
    new = storage.upload("t", 2, build(s3, "b", {"a.py": "y = 2\n"}))
    assert cache.connection(new) is not None
    cache._open.clear()
    seen: list[Any] = []
    real = storage.download

    def recording(key: str, destination: str, *, if_none_match: str | None = None) -> str | None:
        result = real(key, destination, if_none_match=if_none_match)
        seen.append(result)
        return result

    monkeypatch.setattr(storage, "download", recording)
    # A reader with an older project item (old ETag) asks; S3 still holds `new`, which we have: 304.
    assert old["etag"] != new["etag"]
    assert cache.connection(old) is not None and seen == [None]


def test_a_missing_object_means_no_index(s3: Path) -> None:
    assert cache.connection({"key": "search/t/9/code.sqlite", "etag": '"x"'}) is None


def test_an_index_of_another_schema_version_is_not_searched(s3: Path) -> None:
    path = build(s3, "old", {"a.py": "def alpha():\n    pass\n"})
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE meta SET value='1' WHERE key='schema'")  # as an older scanner wrote it
    conn.close()
    assert cache.connection(storage.upload("t", 1, path)) is None
