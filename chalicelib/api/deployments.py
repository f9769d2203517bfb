from __future__ import annotations

from chalicelib import deployments
from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.models.common import Message
from chalicelib.models.deployments import (
    Deployment,
    DeploymentDetail,
    DeploymentListQuery,
    DeploymentLogs,
    DeployRequest,
    RedeployRequest,
    Revision,
    RollbackRequest,
)

DEFAULT_PAGE = 50
api = Router(__name__, tag="deployments")


@api.route(
    "/api/v1/deploy",
    "POST",
    scope="deploy",
    summary="Deploy a project to a port on a worker host",
    body=DeployRequest,
    response=Message,
    status=201,
)
def deploy(req: Req) -> Reply:
    reply = deployments.create_deployment(req.tenant, req.body)
    return Reply(reply, 201, {"Location": f"/api/v1/deployments/{reply['id']}"})


@api.route(
    "/api/v1/deployments", summary="List deployments", query=DeploymentListQuery, response=list[Deployment]
)
def list_deployments(req: Req) -> ListReply:
    query: DeploymentListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = deployments.list_deployments(
        req.tenant,
        limit=limit,
        offset=query.offset or 0,
        cursor=query.cursor,
        status=query.status,
        project_id=query.project_id,
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route(
    "/api/v1/deployments/{id}", summary="Get a deployment and its status history", response=DeploymentDetail
)
def get_deployment(req: Req) -> DeploymentDetail:
    return deployments.get_deployment(req.tenant, req.path["id"])


@api.route(
    "/api/v1/deployments/{id}/stop",
    "POST",
    scope="deploy",
    summary="Stop a deployment (its container is removed, its port freed)",
    response=Message,
)
def stop_deployment(req: Req) -> dict:
    return deployments.request_action(req.tenant, req.path["id"], "stop")


@api.route(
    "/api/v1/deployments/{id}/restart",
    "POST",
    scope="deploy",
    summary="Restart a deployment (a new revision when nothing runs)",
    response=Message,
)
def restart_deployment(req: Req) -> dict:
    return deployments.request_action(req.tenant, req.path["id"], "restart")


@api.route(
    "/api/v1/deployments/{id}/cancel",
    "POST",
    scope="deploy",
    summary="Cancel a rollout in progress",
    response=Message,
)
def cancel_deployment(req: Req) -> dict:
    return deployments.request_action(req.tenant, req.path["id"], "cancel")


@api.route(
    "/api/v1/deployments/{id}/redeploy",
    "POST",
    scope="deploy",
    summary="Roll out a new revision, optionally with changed settings",
    body=RedeployRequest,
    response=Message,
)
def redeploy(req: Req) -> dict:
    return deployments.redeploy(req.tenant, req.path["id"], req.body)


@api.route(
    "/api/v1/deployments/{id}/rollback",
    "POST",
    scope="deploy",
    summary="Roll back to a recorded revision (its configuration and image)",
    body=RollbackRequest,
    response=Message,
)
def rollback(req: Req) -> dict:
    return deployments.rollback(req.tenant, req.path["id"], req.body.revision)


@api.route(
    "/api/v1/deployments/{id}",
    "DELETE",
    scope="deploy",
    summary="Delete a deployment (the host removes its container first)",
    response=Message,
    status=202,
)
def delete_deployment(req: Req) -> Reply:
    return Reply(deployments.request_delete(req.tenant, req.path["id"]), 202)


@api.route(
    "/api/v1/deployments/{id}/logs",
    summary="Build and container logs (environment values redacted)",
    response=DeploymentLogs,
)
def deployment_logs(req: Req) -> DeploymentLogs:
    return deployments.get_logs(req.tenant, req.path["id"])


@api.route(
    "/api/v1/deployments/{id}/history",
    summary="Revisions, newest first, with configuration and image id",
    response=list[Revision],
)
def deployment_history(req: Req) -> list[Revision]:
    return deployments.list_revisions(req.tenant, req.path["id"])
