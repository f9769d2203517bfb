"""Code-aware text for the index and for queries. FTS5's unicode61 tokenizer already splits
`authenticate_user` at the underscore and the porter stemmer maps `authentication` and
`authenticate` to one stem; what it cannot do is split `getUserName`. So each indexed line carries,
after its own text, the camelCase words it contains split into parts, and a query is split the same
way. Both sides use these functions, so the index and the API always agree."""

from __future__ import annotations

import re

# A lower-to-upper step (getUser, parseHTTPRequest) or an acronym before a word (HTTPServer).
_STEP = re.compile(r"[a-z0-9][A-Z]|[A-Z][A-Z][a-z]")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_CAMEL_STEP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+")
MAX_TERMS = 16


def split_camel(word: str) -> list[str]:
    return _CAMEL_STEP.sub(" ", word).split()


def index_text(line: str) -> str:
    """The text FTS5 indexes for a line: the line, then the parts of its camelCase words."""
    if line.islower() or line.isupper() or _STEP.search(line) is None:  # most lines: cheap checks only
        return line
    words = [word for word in _ALNUM.findall(line) if _STEP.search(word)]
    return line + " " + " ".join(part for word in words for part in split_camel(word))


def index_lines(text: str, max_length: int) -> list[tuple[int, str, str]]:
    """(line number, content, indexed text) of a file's non-blank lines, each cut at `max_length`.
    Lines are numbered by "\n" as editors and grep do (a form feed does not start a line)."""
    found = []
    for number, raw in enumerate(text.split("\n"), 1):
        if raw and not raw.isspace():
            content = raw.rstrip("\r")[:max_length]
            found.append((number, content, index_text(content)))
    return found


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
