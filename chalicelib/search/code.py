"""Code search across a tenant's projects (or one): each project's index from the warm cache,
the best lines of each, merged by relevance."""

from __future__ import annotations

import posixpath
from typing import Any

from chalicelib.projects import get_item
from chalicelib.search import cache, index
from chalicelib.search.tenant import all_projects


def search_code(
    tenant: str, query: str, project_id: int | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """[{file, line, content, relevance_score}], best first; `file` is the absolute path on the
    project's host. Projects never scanned have no index and contribute nothing."""
    items = [get_item(tenant, project_id)] if project_id is not None else all_projects(tenant)
    hits: list[tuple[float, str, int, str]] = []
    for project in items:
        reference = project.get("search_index")
        if not reference:
            continue
        conn = cache.connection(reference)
        if conn is None:
            continue
        for hit in index.search(conn, query, limit):
            file = posixpath.join(project["path"], hit.file)
            hits.append((hit.relevance_score, file, hit.line, hit.content))
    hits.sort(key=lambda h: (-h[0], h[1], h[2]))
    return [
        {"file": file, "line": line, "content": content, "relevance_score": score}
        for score, file, line, content in hits[:limit]
    ]
