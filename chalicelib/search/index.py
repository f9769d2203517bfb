"""The code index of one project: a SQLite file the scanner builds on the host and the API reads.

    files(path, size, mtime_ns, facts,      one row per file walked; facts is the scanner's JSON;
          first_block, block_count)         its blocks are blocks[first_block, first_block + count)
    blocks(id, file_id, first_line,         each indexed file in blocks of BLOCK_LINES lines; parts:
           content, parts)                  the camelCase parts of each line, line by line
    fts(content, parts)                     FTS5 over blocks (external content), porter + unicode61

FTS5 holds blocks of lines, not lines: one row per 16 lines costs a fraction of the CPU to insert
and of the space. A search ranks blocks with BM25 and asks FTS5 to mark the matching tokens in the
best ones (highlight()); a block's text is its lines joined by "\n", which no token spans, and its
parts are aligned line by line, so each mark falls on the exact line that holds it. Which query
term a marked token stands for is decided by FTS5 as well (`lines.term_masks`), so hits are exact
lines with the index's own stemming and tokens; `lines` scores each line with BM25.

SCHEMA_VERSION changes whenever the layout or what is indexed (`text.index_blocks`) does: an
index of another version is rebuilt from scratch.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.search.lines import MARK_CLOSE, MARK_OPEN, Corpus, LineHit, MarkedBlock, idf, line_hits
from chalicelib.search.text import TOKENIZER, FileBlocks, match_expression, query_terms, relevance

SCHEMA_VERSION = "2"
BLOCK_LINES = 16  # lines per FTS row: 8 costs a third more to build, 32 ranks less precisely
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    facts TEXT NOT NULL, first_block INTEGER NOT NULL DEFAULT 0, block_count INTEGER NOT NULL DEFAULT 0,
    line_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS blocks(
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, first_line INTEGER NOT NULL, content TEXT NOT NULL,
    parts TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    content, parts, content='blocks', content_rowid='id', tokenize='{TOKENIZER}');
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
    current = is_current(conn)
    conn.close()
    if current:
        return _connect(path)
    with open(path, "wb"):
        pass  # truncate: whatever was there is not ours to update
    conn = _connect(path)
    conn.executescript(_SCHEMA)
    conn.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    return conn


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the index is of this code's SCHEMA_VERSION (any other layout is rebuilt by the next
    scan and searched by nobody until then)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] == SCHEMA_VERSION


def known_files(conn: sqlite3.Connection) -> dict[str, tuple[int, int, int]]:
    """path -> (id, size, mtime_ns) of every file the index has seen."""
    return {
        path: (fid, size, mtime)
        for fid, path, size, mtime in conn.execute("SELECT id, path, size, mtime_ns FROM files")
    }


def remove_files(conn: sqlite3.Connection, file_ids: Iterable[int]) -> None:
    for file_id in file_ids:
        first, count = conn.execute(
            "SELECT first_block, block_count FROM files WHERE id=?", (file_id,)
        ).fetchone()
        span = (first, first + count)
        rows = conn.execute("SELECT id, content, parts FROM blocks WHERE id >= ? AND id < ?", span)
        conn.executemany(
            "INSERT INTO fts(fts, rowid, content, parts) VALUES('delete', ?, ?, ?)", rows.fetchall()
        )
        conn.execute("DELETE FROM blocks WHERE id >= ? AND id < ?", span)
        conn.execute("DELETE FROM files WHERE id=?", (file_id,))


def add_file(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, facts: dict[str, Any]) -> None:
    """`facts["blocks"]` (popped): the file's blocks as `text.index_blocks` makes them."""
    indexed = facts.pop("blocks", None) or FileBlocks(0, [])
    blocks = indexed.blocks
    # Block ids only grow (MAX+1 even after deletes), so a file's blocks are one contiguous range.
    first = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM blocks").fetchone()[0]) + 1
    file_id = conn.execute(
        "INSERT INTO files(path, size, mtime_ns, facts, first_block, block_count, line_count)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (path, size, mtime_ns, json.dumps(facts, separators=(",", ":")), first, len(blocks), indexed.lines),
    ).lastrowid
    if not blocks:
        return
    conn.executemany(
        "INSERT INTO blocks(id, file_id, first_line, content, parts) VALUES (?, ?, ?, ?, ?)",
        ((first + i, file_id, *block) for i, block in enumerate(blocks)),
    )
    conn.executemany(
        "INSERT INTO fts(rowid, content, parts) VALUES (?, ?, ?)",
        ((first + i, content, parts) for i, (_, content, parts) in enumerate(blocks)),
    )


def all_facts(conn: sqlite3.Connection) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, json.loads(facts))
        for path, facts in conn.execute("SELECT path, facts FROM files ORDER BY path")
    ]


def finish(conn: sqlite3.Connection, *, compact: bool) -> None:
    """Before upload. `compact` (after a cold scan or a large change) merges the FTS segments into
    one and rewrites the file without free pages; both rewrite the whole index, so a small rescan
    leaves the merging to FTS5's automerge. Also records what line scores need: rows and tokens
    in the FTS table (FTS5's own totals) and the non-blank lines indexed."""
    _, tokens = _fts_totals(conn)
    lines = conn.execute("SELECT COALESCE(SUM(line_count), 0) FROM files").fetchone()[0]
    conn.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [("lines", str(lines)), ("line_tokens", repr(tokens / lines if lines else 1.0))],
    )
    if compact:
        conn.execute("INSERT INTO fts(fts) VALUES('optimize')")
        conn.execute("VACUUM")


def _fts_totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """(rows, tokens in all columns): FTS5's averages record (fts_data id 1, the numbers bm25()
    uses), a row count then each column's token total, as SQLite varints."""
    row = conn.execute("SELECT block FROM fts_data WHERE id=1").fetchone()
    if row is None:
        return 0, 0
    data: bytes = row[0]
    rows, at = _varint(data, 0)
    tokens = 0
    while at < len(data):
        count, at = _varint(data, at)
        tokens += count
    return rows, tokens


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's varint: big-endian groups of 7 bits, high bit set while more follow; a 9th byte
    holds 8 bits. Returns the value and where the next one starts."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def open_for_reading(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn


AND_BATCHES = 4  # blocks holding every term read for lines holding every term: up to 4 x limit
COMMON_BLOCKS = 2000  # a term in more blocks than this adds little to BM25 (low IDF) and costs much
_COUNT = "SELECT count(*) FROM fts WHERE fts MATCH ?"
# The best blocks in order, the tokens that match marked in their text and parts. Read lazily: FTS5
# ranks every match first, but runs highlight() only for the rows read.
_TOP = f"""
    SELECT rowid, highlight(fts, 0, '{MARK_OPEN}', '{MARK_CLOSE}'),
           highlight(fts, 1, '{MARK_OPEN}', '{MARK_CLOSE}')
    FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?
"""
_BLOCKS = """
    SELECT b.id, f.path, b.first_line, b.content, b.parts
    FROM blocks AS b JOIN files AS f ON f.id = b.file_id
    WHERE b.id IN (SELECT value FROM json_each(?))
"""


def _marked_blocks(conn: sqlite3.Connection, ranked: list[tuple[int, str, str]]) -> list[MarkedBlock]:
    rows = conn.execute(_BLOCKS, (json.dumps([block_id for block_id, _, _ in ranked]),))
    found = {block_id: (path, line, content, parts) for block_id, path, line, content, parts in rows}
    return [MarkedBlock(*found[block_id], marked, marked_parts) for block_id, marked, marked_parts in ranked]


@dataclass(frozen=True)
class TermStats:
    """What BM25 weighs query terms by: the corpus's non-blank lines and their tokens, and how many
    blocks hold each term. Stats of several indexes add up, so a search across projects weighs a
    term by its rarity in all of them: a small project's lines are not marked down for its size."""

    lines: int
    tokens: float
    holding: dict[str, int]

    def __add__(self, other: TermStats) -> TermStats:
        holding = {term: count + other.holding.get(term, 0) for term, count in self.holding.items()}
        return TermStats(self.lines + other.lines, self.tokens + other.tokens, holding)

    @property
    def corpus(self) -> Corpus:
        return Corpus(self.lines, self.tokens / self.lines if self.lines else 1.0)


def term_stats(conn: sqlite3.Connection, terms: list[str]) -> TermStats:
    """This index's TermStats for the terms of a query (`text.query_terms`)."""
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('lines', 'line_tokens')").fetchall())
    lines = int(meta.get("lines", 0))
    holding = {term: conn.execute(_COUNT, (match_expression([term]),)).fetchone()[0] for term in terms}
    return TermStats(lines, lines * float(meta.get("line_tokens", 1.0)), holding)


def _best_lines(
    conn: sqlite3.Connection, terms: list[str], weights: TermStats, *, every: bool, limit: int
) -> list[Hit]:
    """The best lines holding every term (`every`) or any, best first (ties: file, then line), from
    the best blocks holding them all or any: `limit` blocks, and for `every` up to AND_BATCHES
    times that while fewer than `limit` lines hold them all (a block may hold each on another
    line). Rows are read as needed: highlight() runs only for the blocks read."""
    batches = AND_BATCHES if every else 1
    operator = "AND" if every else "OR"
    cursor = conn.execute(_TOP, (match_expression(terms, operator), limit * batches))
    corpus = weights.corpus
    idfs = [idf(corpus.lines, weights.holding[term]) for term in terms]
    all_terms = (1 << len(terms)) - 1
    found: list[LineHit] = []
    for _ in range(batches):
        rows = cursor.fetchmany(limit)
        found += [
            hit
            for hit in line_hits(_marked_blocks(conn, rows), terms, idfs, corpus)
            if not every or hit.terms == all_terms
        ]
        if len(rows) < limit or len(found) >= limit:
            break
    cursor.close()
    found.sort(key=lambda hit: (hit.bm25, hit.path, hit.line))
    return [Hit(hit.path, hit.line, hit.content, relevance(hit.bm25)) for hit in found[:limit]]


def search(
    conn: sqlite3.Connection,
    query: str,
    limit: int,
    *,
    own: TermStats | None = None,
    weighed_by: TermStats | None = None,
) -> list[Hit]:
    """The best `limit` lines for a query, best first (ties: file, then line), each scored by BM25
    as a document of its own, taken from the best `limit` blocks. Lines holding every term come
    first; lines holding some fill the rest, leaving out terms in more than COMMON_BLOCKS blocks
    when a rarer one is there to rank by. Asking for all terms first keeps common words cheap:
    BM25 is computed for every block a MATCH returns, and "all" returns few.

    `own` is this index's `term_stats` when the caller has it already; terms are weighed by
    `weighed_by` (the stats of every index searched together), by `own` when it is not given."""
    terms = query_terms(query)
    if not terms:
        return []
    own = own or term_stats(conn, terms)
    holding = own.holding
    if not any(holding.values()):
        return []
    weights = weighed_by or own
    hits: list[Hit] = []
    if len(terms) > 1 and all(holding.values()):
        hits = _best_lines(conn, terms, weights, every=True, limit=limit)
    if len(hits) < limit:
        rare = [term for term in terms if 0 < holding[term] <= COMMON_BLOCKS]
        taken = {(hit.file, hit.line) for hit in hits}
        more = _best_lines(conn, rare or [t for t in terms if holding[t]], weights, every=False, limit=limit)
        hits += [hit for hit in more if (hit.file, hit.line) not in taken][: limit - len(hits)]
    return hits
