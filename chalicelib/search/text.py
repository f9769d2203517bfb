"""Code-aware text for the index and for queries. FTS5's unicode61 tokenizer already splits
`authenticate_user` at the underscore and the porter stemmer maps `authentication` and
`authenticate` to one stem; what it cannot do is split `getUserName`. So the index keeps, beside
each line, the camelCase words it contains split into parts, and a query is split the same way.
Both sides use these functions, so the index and the API always agree."""

from __future__ import annotations

import re
import string
from typing import NamedTuple

# A lower-to-upper step (getUser, parseHTTPRequest) or an acronym before a word (HTTPServer).
_STEP = re.compile(r"[a-z0-9][A-Z]|[A-Z][A-Z][a-z]")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_CAMEL_STEP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 16
TOKENIZER = "porter unicode61 remove_diacritics 2"  # FTS5's, for the index and its scratch tables


def split_camel(word: str) -> list[str]:
    return _CAMEL_STEP.sub(" ", word).split()


def camel_parts(text: str) -> str:
    """The parts of the camelCase words in `text`, space-separated ("" when there are none)."""
    if text.islower() or _STEP.search(text) is None:  # most lines: cheap checks only
        return ""
    # A word with no capital has no step: str.islower spares most words the regex.
    words = [word for word in _ALNUM.findall(text) if not word.islower() and _STEP.search(word)]
    return _CAMEL_STEP.sub(" ", " ".join(words))


def index_text(text: str) -> str:
    """Text to index in one FTS5 column: the text, then the parts of its camelCase words."""
    parts = camel_parts(text)
    return f"{text} {parts}" if parts else text


def file_lines(text: str, max_length: int) -> list[str]:
    """A file's lines as the index keeps them: split at "\n" as editors and grep number them (a
    form feed does not start a line), without a trailing "\r", each cut at `max_length`."""
    lines = text.split("\n")
    if "\r" in text or max(map(len, lines)) > max_length:  # rare: most files need no per-line work
        lines = [line.rstrip("\r")[:max_length] for line in lines]
    return lines


def _shape_table() -> bytes:
    """ASCII letters and digits as `a` (lowercase or digit) and `A` (capital), "\n" kept, every
    other byte a space: in that shape a camelCase step is the bytes `aA` or `AAa` (see _STEP)."""
    table = bytearray(b" " * 256)
    for byte in (string.ascii_lowercase + string.digits).encode():
        table[byte] = ord("a")
    for byte in string.ascii_uppercase.encode():
        table[byte] = ord("A")
    table[ord("\n")] = ord("\n")
    return bytes(table)


_SHAPE = _shape_table()


def lines_with_steps(text: str) -> set[int]:
    """The indices of the "\n"-separated lines of `text` that hold a camelCase step. Byte searches
    in the text's shape, not a regex per line: most lines have none. (UTF-8 keeps ASCII bytes as
    they are and never puts a "\n" byte inside another character, so lines and steps line up.)"""
    shape = text.encode().translate(_SHAPE)
    found: set[int] = set()
    for step in (b"aA", b"AAa"):
        line = last = 0
        at = shape.find(step)
        while at >= 0:
            line += shape.count(b"\n", last, at)
            last = at
            found.add(line)
            end = shape.find(b"\n", at)
            at = shape.find(step, end) if end >= 0 else -1
    return found


class FileBlocks(NamedTuple):
    lines: int  # non-blank lines
    blocks: list[tuple[int, str, str]]  # (first line number, content, camelCase parts)


def index_blocks(text: str, max_length: int, size: int) -> FileBlocks:
    """A file in blocks of `size` lines, blank lines included (a line's number is its block's first
    plus its place in it); blocks of nothing but blanks are left out. A block's parts hold each
    line's camelCase parts on the line of the same place ("" when no line has any)."""
    lines = file_lines(text, max_length)
    parts = [""] * len(lines)
    for index in lines_with_steps(text):
        parts[index] = camel_parts(lines[index])
    blocks = []
    for start in range(0, len(lines), size):
        content = "\n".join(lines[start : start + size])
        if content and not content.isspace():
            block_parts = parts[start : start + size]
            blocks.append((start + 1, content, "\n".join(block_parts) if any(block_parts) else ""))
    return FileBlocks(sum(map(bool, map(str.strip, lines))), blocks)


def query_terms(query: str) -> list[str]:
    """The distinct lowercased terms of a query: words split at underscores and punctuation, and
    camelCase words also split into their parts (`getUserName` -> getusername, get, user, name)."""
    terms: list[str] = []
    for word in _WORD.findall(query):
        for term in (word, *split_camel(word)):
            lowered = term.lower()
            if lowered not in terms:
                terms.append(lowered)
    return terms[:MAX_TERMS]


def match_expression(terms: list[str], operator: str = "OR") -> str:
    """An FTS5 query that matches any term (OR; BM25 ranks lines holding more of them higher) or
    every term (AND). Terms are quoted, so FTS5 operators typed by a user are just words."""
    return f" {operator} ".join('"' + term.replace('"', '""') + '"' for term in terms)


def relevance(bm25: float, saturation: float = 2.0) -> float:
    """BM25 (SQLite's is negated: lower is better) mapped into 0-1, order preserved: s / (s + k)."""
    score = max(0.0, -bm25)
    return round(score / (score + saturation), 4)
