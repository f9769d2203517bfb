from __future__ import annotations

from chalicelib import projects
from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.models.projects import Project, ProjectCreate, ProjectDetail, ProjectListQuery, ProjectUpdate

DEFAULT_PAGE = 50
api = Router(__name__, tag="projects")


@api.route("/api/v1/projects", summary="List projects", query=ProjectListQuery, response=list[Project])
def list_projects(req: Req) -> ListReply:
    query: ProjectListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = projects.list_projects(
        req.tenant,
        limit=limit,
        offset=query.offset or 0,
        cursor=query.cursor,
        active=query.active,
        tech_stack=query.tech_stack,
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route(
    "/api/v1/projects",
    "POST",
    scope="write",
    summary="Register a project",
    body=ProjectCreate,
    response=Project,
    status=201,
)
def create_project(req: Req) -> Reply:
    project = projects.create_project(req.tenant, req.body)
    return Reply(project, 201, {"Location": f"/api/v1/projects/{project.id}"})


@api.route("/api/v1/projects/{id}", summary="Get a project", response=ProjectDetail)
def get_project(req: Req) -> ProjectDetail:
    return projects.get_project(req.tenant, req.path["id"])


@api.route(
    "/api/v1/projects/{id}",
    "PATCH",
    scope="write",
    summary="Change a project",
    body=ProjectUpdate,
    response=Project,
)
def update_project(req: Req) -> Project:
    return projects.update_project(req.tenant, req.path["id"], req.body)


@api.route("/api/v1/projects/{id}", "DELETE", scope="write", summary="Delete a project", status=204)
def delete_project(req: Req) -> Reply:
    projects.delete_project(req.tenant, req.path["id"])
    return Reply(None, 204)
