"""From the best blocks of a search to the best lines: which lines hold which query terms, and
each line's BM25 score, computed as FTS5 computes it but for the line alone.

FTS5 ranks blocks; `highlight()` marks the tokens that match in each returned block (in its text and
in its camelCase parts, both "\n"-aligned), which gives the exact lines. Which query term a marked
token stands for is decided by FTS5 too (`term_masks`: the tokens in a scratch table with the
index's tokenizer), so stemming and tokens are the index's own. The score is FTS5's bm25 (k1 1.2,
b 0.75) with a line as the document: term frequency and length are the line's, the average length
is the index's tokens per non-blank line, and IDF counts the lines as N and the blocks holding the
term as n (FTS5 counts rows, not lines: as if each such block held the term on one line)."""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from dataclasses import dataclass
from typing import NamedTuple

from chalicelib.search.text import TOKENIZER, match_expression

K1 = 1.2  # FTS5's bm25 defaults
B = 0.75
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"  # highlight() markers; a stray one in a file matches no term
_MARKED = re.compile(f"{MARK_OPEN}([^{MARK_OPEN}{MARK_CLOSE}\n]*){MARK_CLOSE}")
_TOKEN = re.compile(r"[^\W_]+")  # unicode61's tokens, near enough for a length
_scratch = threading.local()


@dataclass(frozen=True)
class Corpus:
    lines: int  # non-blank lines indexed
    line_tokens: float  # average tokens per non-blank line


class MarkedBlock(NamedTuple):
    path: str
    first_line: int
    content: str
    parts: str
    marked: str  # content with matching tokens between MARK_OPEN and MARK_CLOSE
    marked_parts: str


class LineHit(NamedTuple):
    path: str
    line: int
    content: str
    bm25: float  # FTS5's sign: lower is better
    terms: int  # bit i: the line holds terms[i]


def idf(lines: int, holding: int) -> float:
    """FTS5's IDF, log((N - n + 0.5) / (n + 0.5)) never below a trace, with N the lines and n the
    blocks holding the term: as if each of those held it on one line (FTS5 counts rows, not lines)."""
    value = math.log((lines - holding + 0.5) / (holding + 0.5))
    return value if value > 0 else 1e-6


def term_masks(tokens: set[str], terms: list[str]) -> dict[str, int]:
    """Which of `terms` each token stands for (bit i: terms[i]; `authentication` stands for
    `authenticate`: one porter stem), matched in a scratch in-memory FTS5 table."""
    conn = getattr(_scratch, "conn", None)
    if conn is None:
        conn = _scratch.conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute(f"CREATE VIRTUAL TABLE tokens USING fts5(token, tokenize='{TOKENIZER}')")
    ordered = sorted(tokens)
    masks = dict.fromkeys(ordered, 0)
    conn.execute("BEGIN")
    try:
        conn.executemany("INSERT INTO tokens(rowid, token) VALUES (?, ?)", enumerate(ordered))
        for bit, term in enumerate(terms):
            query = "SELECT rowid FROM tokens WHERE tokens MATCH ?"
            for (row,) in conn.execute(query, (match_expression([term]),)):
                masks[ordered[row]] |= 1 << bit
    finally:
        conn.execute("ROLLBACK")  # the table is empty again for the next search
    return masks


def _marked_tokens(block: MarkedBlock) -> dict[int, list[str]]:
    """Line offset in the block -> the tokens marked on it, in its text or its camelCase parts."""
    found: dict[int, list[str]] = {}
    for marked in (block.marked, block.marked_parts):
        offset, at = 0, 0
        for match in _MARKED.finditer(marked):
            offset += marked.count("\n", at, match.start())
            at = match.start()
            found.setdefault(offset, []).append(match.group(1))
    return found


def line_hits(
    blocks: list[MarkedBlock], terms: list[str], idfs: list[float], corpus: Corpus
) -> list[LineHit]:
    """Every line of `blocks` that holds a term, scored."""
    marked = [_marked_tokens(block) for block in blocks]
    tokens = {token for lines in marked for found in lines.values() for token in found}
    masks = dict.fromkeys(tokens, 1) if len(terms) == 1 else term_masks(tokens, terms)
    held_terms = {mask: [bit for bit in range(len(terms)) if mask >> bit & 1] for mask in set(masks.values())}
    hits = []
    for block, lines in zip(blocks, marked, strict=True):
        texts = block.content.split("\n")
        parts = block.parts.split("\n") if block.parts else None
        for offset, found in lines.items():
            counts = [0] * len(terms)
            held = 0
            for token in found:
                mask = masks[token]
                held |= mask
                for bit in held_terms[mask]:
                    counts[bit] += 1
            if not held:
                continue
            text = texts[offset]
            length = len(_TOKEN.findall(text)) + (len(parts[offset].split()) if parts else 0)
            norm = K1 * (1 - B + B * length / corpus.line_tokens)
            score = 0.0
            for weight, count in zip(idfs, counts, strict=True):
                if count:
                    score += weight * count * (K1 + 1) / (count + norm)
            hits.append(LineHit(block.path, block.first_line + offset, text, -score, held))
    return hits
