"""Code-aware tokenizing and the index: what a query finds, its order, incremental updates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.search import index
from chalicelib.search.text import (
    index_blocks,
    index_text,
    lines_with_steps,
    match_expression,
    query_terms,
    relevance,
)
from tests.support.scan_trees import PYTHON_WEB_APP, write
from workers.scan.scanner import scan


def test_query_terms_split_snake_and_camel_case() -> None:
    assert query_terms("authenticate_user") == ["authenticate", "user"]
    assert query_terms("getUserName") == ["getusername", "get", "user", "name"]
    assert query_terms("parseHTTPRequest") == ["parsehttprequest", "parse", "http", "request"]
    assert query_terms("  --  ") == []


def test_index_text_appends_camel_parts_only_when_there_are_some() -> None:
    assert index_text("x = read_file(path)") == "x = read_file(path)"
    assert index_text("def getUserName(self):") == "def getUserName(self): get User Name"


def test_fts_operators_typed_by_users_are_plain_words() -> None:
    assert match_expression(query_terms('NEAR("a" b) OR c*')) == '"near" OR "a" OR "b" OR "or" OR "c"'


def test_relevance_is_between_0_and_1_and_keeps_the_order() -> None:
    scores = [relevance(value) for value in (-12.0, -3.0, -0.5, 0.0)]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s < 1 for s in scores) and scores[-1] == 0


@pytest.fixture(scope="module")
def shop_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("idx")
    root = write(base / "shop", PYTHON_WEB_APP)
    path = str(base / "shop.sqlite")
    scan(str(root), path, max_bytes=1 << 20, processes=1)
    return path


def found(path: str, query: str, limit: int = 10) -> list[tuple[str, int]]:
    conn = index.open_for_reading(path)
    try:
        return [(hit.file, hit.line) for hit in index.search(conn, query, limit)]
    finally:
        conn.close()


@pytest.mark.parametrize("query", ["authenticate", "user", "authenticate_user", "authentication"])
def test_authenticate_user_is_found_by_its_parts_and_by_stem(shop_index: str, query: str) -> None:
    assert ("app/auth.py", 7) in found(shop_index, query)


def test_camel_case_identifiers_are_found_by_their_parts(shop_index: str) -> None:
    assert found(shop_index, "getUserName")[0] == ("app/auth.py", 13)
    assert ("app/auth.py", 13) in found(shop_index, "name")


def test_the_line_with_more_query_terms_ranks_first_and_scores_fall(shop_index: str) -> None:
    conn = index.open_for_reading(shop_index)
    hits = index.search(conn, "authenticate_user", 10)
    conn.close()
    assert (hits[0].file, hits[0].line) in {("app/auth.py", 7), ("tests/test_auth.py", 1)}
    assert all(0 < h.relevance_score < 1 for h in hits)
    assert [h.relevance_score for h in hits] == sorted((h.relevance_score for h in hits), reverse=True)
    assert hits[0].content.strip().startswith(("def authenticate_user", "from app.auth"))


def test_skipped_files_are_not_indexed(shop_index: str) -> None:
    files = {file for file, _ in found(shop_index, "authenticate", 50)}
    assert files == {"app/auth.py", "tests/test_auth.py"}  # not the log, secret/, node_modules, min.js


def test_an_index_of_another_schema_version_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    path.write_bytes(b"not a database at all")
    conn = index.open_for_writing(str(path))
    assert index.known_files(conn) == {}
    conn.close()


def test_changed_lines_leave_no_trace_in_the_index(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {"a.py": "def oldName():\n    pass\n", "b.py": "keep = 1\n"})
    path = str(tmp_path / "i.sqlite")
    scan(str(root), path, max_bytes=1 << 20, processes=1)
    assert found(path, "oldName") == [("a.py", 1)]
    (root / "a.py").write_text("def newName():\n    pass\n")
    scan(str(root), path, max_bytes=1 << 20, processes=1)
    assert found(path, "old") == []  # ("oldName" would still find newName by its part "name")
    assert found(path, "newName") == [("a.py", 1)]
    assert found(path, "keep") == [("b.py", 1)]


def test_lines_with_steps_are_the_lines_the_step_regex_finds() -> None:
    text = "plain line\r\nx = getUserName()\n\nHTTPServer é\nnoCaps\nnone here\nALLCAPS X0Y\nCaf\u00e9Bar\n"
    steps = re.compile(r"[a-z0-9][A-Z]|[A-Z][A-Z][a-z]")
    assert lines_with_steps(text) == {i for i, line in enumerate(text.split("\n")) if steps.search(line)}


def test_blocks_keep_every_line_and_each_lines_camel_parts_in_its_place() -> None:
    text = "a = 1\r\n\n" + "x" * 500 + "\nb = getUserName()\n"
    indexed = index_blocks(text, 400, 2)
    assert indexed.lines == 3
    assert indexed.blocks == [(1, "a = 1\n", ""), (3, "x" * 400 + "\nb = getUserName()", "\nget User Name")]


LONG_FILE = "\n".join(
    [f"filler_{n} = {n}" for n in range(1, 16)]
    + ["wantedToken = 16"]  # line 16: the last line of the first block
    + ["blockEdge = 17"]  # line 17: the first line of the second block
    + [""] * 3  # blank lines 18-20
    + ["alpha = 1", "beta = 2", "alpha_beta = 3"]  # 21-23: the terms apart, then together
    + ["auth", "enticate = 0"]  # 24-25: a word split across two lines is two words
    + ["x = 'é' # getUserName here"]  # 26
)


@pytest.fixture(scope="module")
def long_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("long")
    root = write(base / "p", {"mod.py": LONG_FILE + "\n", "other.py": "beta_only = 1\n"})
    path = str(base / "p.sqlite")
    scan(str(root), path, max_bytes=1 << 20, processes=1)
    return path


def hits(path: str, query: str, limit: int = 10) -> list[index.Hit]:
    conn = index.open_for_reading(path)
    try:
        return index.search(conn, query, limit)
    finally:
        conn.close()


def test_lines_at_block_edges_are_found_with_their_number_and_content(long_index: str) -> None:
    assert index.BLOCK_LINES == 16
    assert [(h.file, h.line, h.content) for h in hits(long_index, "wantedToken")] == [
        ("mod.py", 16, "wantedToken = 16")
    ]
    assert [(h.line, h.content) for h in hits(long_index, "blockEdge")] == [(17, "blockEdge = 17")]
    assert [h.line for h in hits(long_index, "token")] == [16]  # a camelCase part, on its own line
    assert [(h.line, h.content) for h in hits(long_index, "user")] == [(26, "x = 'é' # getUserName here")]


def test_a_word_split_across_lines_is_not_found(long_index: str) -> None:
    assert hits(long_index, "authenticate") == []
    assert [h.line for h in hits(long_index, "enticate")] == [25]


def test_the_line_holding_every_term_ranks_above_lines_holding_one(long_index: str) -> None:
    found = hits(long_index, "alpha beta")
    assert [(h.file, h.line) for h in found[:1]] == [("mod.py", 23)]
    assert {(h.file, h.line) for h in found[1:]} == {("mod.py", 21), ("mod.py", 22), ("other.py", 1)}
    assert all(0 < h.relevance_score < 1 for h in found)


def test_the_index_records_its_lines_and_tokens_per_line_for_scoring(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {"a.py": "one two\n\nthree = fourFive\n"})
    path = str(tmp_path / "i.sqlite")
    scan(str(root), path, max_bytes=1 << 20, processes=1)
    conn = index.open_for_reading(path)
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    conn.close()
    # 2 non-blank lines; tokens: one two three fourfive, then the parts four five
    assert (meta["lines"], float(meta["line_tokens"])) == ("2", 3.0)
