"""Code-aware tokenizing and the index: what a query finds, its order, incremental updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.search import index
from chalicelib.search.text import index_text, match_expression, query_terms, relevance
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
