"""The code index of one project: a SQLite file the scanner builds on the host and the API reads.

    files(path, size, mtime_ns, facts,      one row per file walked; facts is the scanner's JSON;
          first_line, line_count)           its lines are lines[first_line, first_line + line_count)
    lines(id, file_id, line, content)       the non-blank lines of indexed files
    fts(text)                               FTS5, contentless, rowid = lines.id, porter + unicode61

The FTS table is contentless (the text lives once, in `lines`); its indexed text is
`text.index_text(content)`, recomputed to delete a row, so a changed file's old rows can go
without storing the text twice. SCHEMA_VERSION changes whenever that function or the layout does:
an index of another version is rebuilt from scratch.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.search.text import index_text, match_expression, query_terms, relevance

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    facts TEXT NOT NULL, first_line INTEGER NOT NULL DEFAULT 0, line_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS lines(
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, line INTEGER NOT NULL, content TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    text, content='', tokenize='porter unicode61 remove_diacritics 2');
"""


@dataclass(frozen=True)
class Hit:
    file: str
    line: int
    content: str
    relevance_score: float


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # a scan writes a private copy: no crash recovery needed
    conn.execute("PRAGMA synchronous=OFF")
    return conn


def open_for_writing(path: str) -> sqlite3.Connection:
    """Open (or create) an index to update; an index of another schema version starts empty."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    conn.close()
    if row is not None and row[0] == SCHEMA_VERSION:
        return _connect(path)
    with open(path, "wb"):
        pass  # truncate: whatever was there is not ours to update
    conn = _connect(path)
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return conn


def known_files(conn: sqlite3.Connection) -> dict[str, tuple[int, int, int]]:
    """path -> (id, size, mtime_ns) of every file the index has seen."""
    return {
        path: (fid, size, mtime)
        for fid, path, size, mtime in conn.execute("SELECT id, path, size, mtime_ns FROM files")
    }


def remove_files(conn: sqlite3.Connection, file_ids: Iterable[int]) -> None:
    for file_id in file_ids:
        first, count = conn.execute(
            "SELECT first_line, line_count FROM files WHERE id=?", (file_id,)
        ).fetchone()
        span = (first, first + count)
        rows = conn.execute("SELECT id, content FROM lines WHERE id >= ? AND id < ?", span).fetchall()
        conn.executemany(
            "INSERT INTO fts(fts, rowid, text) VALUES('delete', ?, ?)",
            ((row_id, index_text(content)) for row_id, content in rows),
        )
        conn.execute("DELETE FROM lines WHERE id >= ? AND id < ?", span)
        conn.execute("DELETE FROM files WHERE id=?", (file_id,))


def add_file(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, facts: dict[str, Any]) -> None:
    lines = facts.pop("lines", None) or []
    # Line ids only grow (MAX+1 even after deletes), so a file's lines are one contiguous range.
    first = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM lines").fetchone()[0]) + 1
    file_id = conn.execute(
        "INSERT INTO files(path, size, mtime_ns, facts, first_line, line_count) VALUES (?, ?, ?, ?, ?, ?)",
        (path, size, mtime_ns, json.dumps(facts, separators=(",", ":")), first, len(lines)),
    ).lastrowid
    if not lines:
        return
    conn.executemany(
        "INSERT INTO lines(id, file_id, line, content) VALUES (?, ?, ?, ?)",
        ((first + i, file_id, number, content) for i, (number, content, _) in enumerate(lines)),
    )
    conn.executemany(
        "INSERT INTO fts(rowid, text) VALUES (?, ?)",
        ((first + i, text) for i, (_, _, text) in enumerate(lines)),
    )


def all_facts(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, json.loads(facts))
        for path, facts in conn.execute("SELECT path, facts FROM files ORDER BY path")
    ]


def finish(conn: sqlite3.Connection, *, compact: bool) -> None:
    """Before upload. `compact` (after a cold scan or a large change) merges the FTS segments into
    one and rewrites the file without free pages; both rewrite the whole index, so a small rescan
    leaves the merging to FTS5's automerge."""
    if compact:
        conn.execute("INSERT INTO fts(fts) VALUES('optimize')")
        conn.execute("VACUUM")


def open_for_reading(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn


COMMON_LINES = 2000  # a term on more lines than this adds little to BM25 (low IDF) and costs much
_COUNT = "SELECT count(*) FROM (SELECT 1 FROM fts WHERE fts MATCH ? LIMIT ?)"


def _rarer(conn: sqlite3.Connection, terms: list[str]) -> list[str]:
    """The terms to OR: common ones are left out when a rarer one is there to rank by."""
    if len(terms) == 1:
        return terms
    rare = [
        t
        for t in terms
        if conn.execute(_COUNT, (match_expression([t]), COMMON_LINES + 1)).fetchone()[0] <= COMMON_LINES
    ]
    return rare or terms


_TOP = """
    SELECT m.rowid, f.path, l.line, l.content, m.rank
    FROM (SELECT rowid, rank FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?) AS m
    JOIN lines AS l ON l.id = m.rowid
    JOIN files AS f ON f.id = l.file_id
    ORDER BY m.rank, f.path, l.line
"""


def search(conn: sqlite3.Connection, query: str, limit: int) -> list[Hit]:
    """The best `limit` lines for a query, best first (ties: file, then line). Lines holding every
    term come first; lines holding some fill the rest. Asking for all terms first keeps common
    words cheap: BM25 is computed for every line a MATCH returns, and "all" returns few."""
    terms = query_terms(query)
    if not terms:
        return []
    rows = []
    if len(terms) > 1:
        rows = conn.execute(_TOP, (match_expression(terms, "AND"), limit)).fetchall()
    if len(rows) < limit:
        seen = {row[0] for row in rows}
        extra = conn.execute(_TOP, (match_expression(_rarer(conn, terms)), limit + len(rows))).fetchall()
        rows += [row for row in extra if row[0] not in seen][: limit - len(rows)]
    return [Hit(path, line, content, relevance(rank)) for _, path, line, content, rank in rows]
