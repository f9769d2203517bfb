"""A scan: walk the project, read only the files that changed since the index was last written
(size or modification time differ), update the index, and summarize every file's facts."""

from __future__ import annotations

import gc
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.search import index
from workers.scan.analyze import analyze
from workers.scan.summary import summarize
from workers.scan.walk import Entry, walk

PARALLEL_FROM = 64  # files; below this a process pool costs more than it saves
# A file modified this close to the scan may change again within the same timestamp tick, unseen
# by the next size+mtime comparison ("racy git"); such files are recorded so the next scan rereads them.
RACY_NS = 2_000_000_000
COMPACT_SHARE = 0.1  # rewrite the whole index when more than this share of the files changed


@dataclass
class ScanOutcome:
    summary: dict[str, Any]
    files_read: int
    files_reused: int
    files_removed: int
    seconds: float


def _analyze_entry(entry: Entry) -> tuple[Entry, dict[str, Any]]:
    return entry, analyze(entry.rel, entry.path)


def _analyze_all(entries: list[Entry], processes: int) -> Iterator[tuple[Entry, dict[str, Any]]]:
    if processes <= 1 or len(entries) < PARALLEL_FROM:
        yield from map(_analyze_entry, entries)
        return
    # Parsing dominates a cold scan; files go to worker processes, the index is written here.
    # Largest first, so the last tasks are small ones and no worker is left with a long file
    # while the others idle.
    largest_first = sorted(entries, key=lambda entry: -entry.size)
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        yield from pool.imap_unordered(_analyze_entry, largest_first, chunksize=8)


def scan(root: str, index_path: str, *, max_bytes: int, processes: int | None = None) -> ScanOutcome:
    """Scan the project at `root` (a resolved directory) into the index at `index_path` (created or
    updated in place)."""
    started = time.perf_counter()
    racy_from = time.time_ns() - RACY_NS
    listing = walk(root, max_bytes)
    conn = index.open_for_writing(index_path)
    known = index.known_files(conn)
    current = {entry.rel for entry in listing.entries}
    changed = [e for e in listing.entries if known.get(e.rel, (0, -1, -1))[1:] != (e.size, e.mtime_ns)]
    stale = [known[e.rel][0] for e in changed if e.rel in known]
    gone = [file_id for path, (file_id, _, _) in known.items() if path not in current]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # parsing allocates millions of short-lived objects; collection only slows it down
    try:
        conn.execute("BEGIN")
        index.remove_files(conn, stale + gone)
        for entry, facts in _analyze_all(changed, processes or os.cpu_count() or 1):
            mtime_ns = entry.mtime_ns if entry.mtime_ns < racy_from else -1
            index.add_file(conn, entry.rel, entry.size, mtime_ns, facts)
        conn.execute("COMMIT")
    finally:
        if gc_was_enabled:
            gc.enable()
    summary = summarize(index.all_facts(conn), listing.skipped)
    if changed or gone:
        index.finish(conn, compact=len(changed) + len(gone) > COMPACT_SHARE * max(1, len(known)))
    conn.close()
    return ScanOutcome(
        summary, len(changed), len(listing.entries) - len(changed), len(gone), time.perf_counter() - started
    )
