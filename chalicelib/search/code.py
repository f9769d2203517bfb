"""Code search across a tenant's projects (or one): each project's index from the warm cache,
the best lines of each, merged by relevance."""

from __future__ import annotations

import posixpath
from typing import Any

from chalicelib.projects import get_item
from chalicelib.search import cache, index
from chalicelib.search.tenant import all_projects
from chalicelib.search.text import query_terms


def search_code(
    tenant: str, query: str, project_id: int | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """[{file, line, content, relevance_score}], best first; `file` is the absolute path on the
    project's host. Projects never scanned have no index and contribute nothing. Every project's
    lines are scored with the terms weighed over all the projects searched, so scores compare."""
    items = [get_item(tenant, project_id)] if project_id is not None else all_projects(tenant)
    terms = query_terms(query)
    if not terms:
        return []
    # Two passes, each index asked for again: the cache may close one to stay within its size.
    found: list[tuple[str, dict[str, Any], index.TermStats]] = []
    for project in items:
        reference = project.get("search_index")
        if not reference:
            continue
        conn = cache.connection(reference)
        if conn is not None:
            found.append((project["path"], reference, index.term_stats(conn, terms)))
    if not found:
        return []
    together = sum((stats for _, _, stats in found[1:]), found[0][2])
    hits: list[tuple[float, str, int, str]] = []
    for root, reference, stats in found:
        conn = cache.connection(reference)
        if conn is None:
            continue
        for hit in index.search(conn, query, limit, own=stats, weighed_by=together):
            hits.append((hit.relevance_score, posixpath.join(root, hit.file), hit.line, hit.content))
    hits.sort(key=lambda h: (-h[0], h[1], h[2]))
    return [
        {"file": file, "line": line, "content": content, "relevance_score": score}
        for score, file, line, content in hits[:limit]
    ]
