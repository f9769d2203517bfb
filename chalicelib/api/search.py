from __future__ import annotations

from chalicelib.api.routing import Req, Router
from chalicelib.models.search import CodeHit, CodeSearchQuery, ProjectHit, ProjectSearchQuery

api = Router(__name__, tag="search")


@api.route(
    "/api/v1/search/projects",
    "POST",
    summary="Rank projects by name, description, tech stack and README",
    query=ProjectSearchQuery,
    response=list[ProjectHit],
)
def search_projects(req: Req) -> list[dict]:
    from chalicelib import search  # sqlite3 loads on first search, not at cold start

    query: ProjectSearchQuery = req.query
    return search.search_projects(req.tenant, query.query, query.limit)


@api.route(
    "/api/v1/search/code",
    "POST",
    summary="Search the code of the tenant's projects (or one), best lines first",
    query=CodeSearchQuery,
    response=list[CodeHit],
)
def search_code(req: Req) -> list[dict]:
    from chalicelib import search

    query: CodeSearchQuery = req.query
    return search.search_code(req.tenant, query.query, query.project_id, query.limit)
