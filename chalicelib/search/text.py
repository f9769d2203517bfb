"""Code-aware text for the index and for queries. FTS5's unicode61 tokenizer already splits
`authenticate_user` at the underscore and the porter stemmer maps `authentication` and
`authenticate` to one stem; what it cannot do is split `getUserName`. So the index keeps, beside
each line, the camelCase words it contains split into parts, and a query is split the same way.
Both sides use these functions, so the index and the API always agree."""

from __future__ import annotations

import re
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
    """The parts of the camelCase words in `text`, space-separated ("" when there are none). Word
    by word, so a block's parts are exactly its lines' parts: no word spans a line."""
    if text.islower() or _STEP.search(text) is None:  # most lines and blocks: cheap checks only
        return ""
    words = [word for word in _ALNUM.findall(text) if _STEP.search(word)]
    return " ".join(part for word in words for part in split_camel(word))


def index_text(text: str, parts: str | None = None) -> str:
    """The text FTS5 indexes for a line or a block of lines: the text, then the parts of its
    camelCase words (`parts` when the caller has them already)."""
    parts = camel_parts(text) if parts is None else parts
    return f"{text} {parts}" if parts else text


def file_lines(text: str, max_length: int) -> list[str]:
    """A file's lines as the index keeps them: split at "\n" as editors and grep number them (a
    form feed does not start a line), without a trailing "\r", each cut at `max_length`."""
    lines = text.split("\n")
    if "\r" in text or max(map(len, lines)) > max_length:  # rare: most files need no per-line work
        lines = [line.rstrip("\r")[:max_length] for line in lines]
    return lines


class FileBlocks(NamedTuple):
    lines: int  # non-blank lines
    blocks: list[tuple[int, str, str]]  # (first line number, content, camelCase parts)


def index_blocks(text: str, max_length: int, size: int) -> FileBlocks:
    """A file in blocks of `size` lines, blank lines included (a line's number is its block's first
    plus its place in it); blocks of nothing but blanks are left out. A block's parts hold each
    line's camelCase parts on the line of the same place ("" when no line has any)."""
    lines = file_lines(text, max_length)
    blocks = []
    for start in range(0, len(lines), size):
        content = "\n".join(lines[start : start + size])
        if content and not content.isspace():
            parts = camel_parts(content) and "\n".join(map(camel_parts, lines[start : start + size]))
            blocks.append((start + 1, content, parts))
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
