"""Outbound webhooks (CRUD, toggle, test, deliveries) and the inbound hooks (GitHub, trigger)."""

from __future__ import annotations

from typing import Any

from chalicelib.api.routing import ListReply, Reply, Req, Router
from chalicelib.models.common import ListQuery, Message
from chalicelib.models.webhooks import (
    DeliveryListQuery,
    DeliveryOut,
    HookConfig,
    HookCreated,
    HookInfo,
    QueuedDelivery,
    WebhookOut,
    WebhookWithSecret,
)
from chalicelib.webhooks import incoming, service
from chalicelib.webhooks.models import WebhookCreate, WebhookUpdate

DEFAULT_PAGE = 50
api = Router(__name__, tag="webhooks")


@api.route(
    "/api/v1/webhooks",
    "POST",
    scope="write",
    summary="Register a webhook (the secret is shown in this answer only)",
    body=WebhookCreate,
    response=WebhookWithSecret,
    status=201,
)
def create_webhook(req: Req) -> Reply:
    webhook = service.create_webhook(req.tenant, req.body)
    return Reply(webhook, 201, {"Location": f"/api/v1/webhooks/{webhook.id}"})


@api.route("/api/v1/webhooks", summary="List webhooks", query=ListQuery, response=list[WebhookOut])
def list_webhooks(req: Req) -> ListReply:
    query: ListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = service.list_webhooks(
        req.tenant, limit=limit, offset=query.offset or 0, cursor=query.cursor
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route("/api/v1/webhooks/{id}", summary="Get a webhook", response=WebhookOut)
def get_webhook(req: Req) -> WebhookOut:
    return service.public(service.get_item(req.tenant, req.path["id"]))


@api.route(
    "/api/v1/webhooks/{id}",
    "PATCH",
    scope="write",
    summary="Change a webhook (a new secret is shown in this answer only)",
    body=WebhookUpdate,
    response=WebhookOut,
)
def update_webhook(req: Req) -> WebhookOut:
    return service.update_webhook(req.tenant, req.path["id"], req.body)


@api.route("/api/v1/webhooks/{id}", "DELETE", scope="write", summary="Delete a webhook", status=204)
def delete_webhook(req: Req) -> Reply:
    service.delete_webhook(req.tenant, req.path["id"])
    return Reply(None, 204)


@api.route(
    "/api/v1/webhooks/{id}/toggle",
    "POST",
    scope="write",
    summary="Enable or disable a webhook",
    response=WebhookOut,
)
def toggle_webhook(req: Req) -> WebhookOut:
    return service.toggle_webhook(req.tenant, req.path["id"])


@api.route(
    "/api/v1/webhooks/{id}/test",
    "POST",
    scope="write",
    summary="Queue a webhook.test delivery to this webhook",
    response=QueuedDelivery,
    status=202,
)
def test_webhook(req: Req) -> Reply:
    return Reply(service.request_test(req.tenant, req.path["id"]), 202)


@api.route(
    "/api/v1/webhooks/{id}/deliveries",
    summary="Every delivery attempt, newest first",
    query=DeliveryListQuery,
    response=list[DeliveryOut],
)
def list_deliveries(req: Req) -> ListReply:
    query: DeliveryListQuery = req.query
    limit = query.limit or DEFAULT_PAGE
    items, page, total = service.list_deliveries(
        req.tenant, req.path["id"], limit=limit, offset=query.offset or 0, cursor=query.cursor
    )
    return ListReply.from_page(items, page, total, query, limit)


@api.route(
    "/api/v1/webhooks/{id}/trigger",
    "POST",
    scope=None,
    summary="Run the webhook's action (authenticated by the x-webhook-secret header)",
)
def trigger_webhook(req: Req) -> dict[str, Any]:
    return incoming.handle_trigger(req.path["id"], req.headers)


# -- GitHub ------------------------------------------------------------------------------------


@api.route(
    "/api/v1/projects/{id}/hook",
    "PUT",
    scope="write",
    summary="Set the project's GitHub hook (branch and secret; the secret is shown in this answer only)",
    body=HookConfig,
    response=HookCreated,
)
def set_project_hook(req: Req) -> HookCreated:
    return incoming.set_github_hook(req.tenant, req.path["id"], req.body)


@api.route(
    "/api/v1/projects/{id}/hook", summary="The project's GitHub hook (without its secret)", response=HookInfo
)
def get_project_hook(req: Req) -> HookInfo:
    return incoming.get_github_hook(req.tenant, req.path["id"])


@api.route(
    "/api/v1/projects/{id}/hook",
    "DELETE",
    scope="write",
    summary="Remove the project's GitHub hook",
    status=204,
)
def delete_project_hook(req: Req) -> Reply:
    incoming.delete_github_hook(req.tenant, req.path["id"])
    return Reply(None, 204)


@api.route(
    "/api/v1/hooks/github/{project_id}",
    "POST",
    scope=None,
    summary="GitHub push webhook (X-Hub-Signature-256): rescan and redeploy on a push to the hook's branch",
    response=Message,
)
def github_hook(req: Req) -> dict[str, Any]:
    return incoming.handle_github(req.path["project_id"], req.headers, req.raw_body)
