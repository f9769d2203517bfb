"""Project search: the tenant's projects ranked by BM25 over name, description, tech stack and
the README the last scan read, in an in-memory FTS5 table built per query (a tenant's projects
fit in memory many times over; nothing to keep fresh)."""

from __future__ import annotations

import sqlite3
from typing import Any

from chalicelib.search.tenant import all_projects
from chalicelib.search.text import TOKENIZER, index_text, match_expression, query_terms, relevance

# Column weights for bm25(): a word in the name counts most, the README least.
WEIGHTS = {"name": 10.0, "tech_stack": 5.0, "description": 3.0, "readme": 1.0}
# BM25's IDF is zero or less for a term in half the documents or more, which with a tenant's few
# projects would be most terms; empty rows (never matched) keep it positive.
PADDING_ROWS = 16


def search_projects(tenant: str, query: str, limit: int = 10) -> list[dict[str, Any]]:
    """[{id, name, path, relevance_score, tech_stack}], best first (ties: id)."""
    terms = query_terms(query)
    if not terms:
        return []
    items = {item["id"]: item for item in all_projects(tenant)}
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE p USING fts5(name, tech_stack, description, readme, "
            f"tokenize='{TOKENIZER}')"
        )
        conn.executemany(
            "INSERT INTO p(rowid, name, tech_stack, description, readme) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    item["id"],
                    index_text(item["name"]),
                    " ".join(item.get("tech_stack") or []),
                    index_text(item.get("description") or ""),
                    index_text(item.get("readme") or ""),
                )
                for item in items.values()
            ),
        )
        conn.executemany(
            "INSERT INTO p(rowid, name, tech_stack, description, readme) VALUES (?, '', '', '', '')",
            ((-1 - i,) for i in range(PADDING_ROWS)),
        )
        weights = ", ".join(str(w) for w in WEIGHTS.values())
        rows = conn.execute(
            f"SELECT rowid, bm25(p, {weights}) AS score FROM p WHERE p MATCH ? ORDER BY score, rowid LIMIT ?",
            (match_expression(terms), limit),
        ).fetchall()
    finally:
        conn.close()
    return [
        {
            "id": project_id,
            "name": items[project_id]["name"],
            "path": items[project_id]["path"],
            "relevance_score": relevance(score),
            "tech_stack": list(items[project_id].get("tech_stack") or []),
        }
        for project_id, score in rows
    ]
