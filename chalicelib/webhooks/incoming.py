"""Inbound hooks: GitHub pushes (`POST /hooks/github/{project_id}`) and triggers
(`POST /webhooks/{id}/trigger` with `x-webhook-secret`).

Neither call carries a BorgOS token, and ids are per tenant, so the tenant is found by the secret:
every hook configured for that id (one per tenant at most) is tried, each with a constant-time
comparison, and only the one whose secret verifies acts.

| item               | PK                  | SK           |
| GitHub hook        | GHHOOK#<project_id> | T#<tenant>   | secret, branch
| replay guard       | hookreplay:...      | REPLAY       | TTL
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from chalicelib import clock, projects
from chalicelib.errors import Conflict, NotFound, Unauthorized
from chalicelib.logs import logger
from chalicelib.models.webhooks import HookConfig, HookCreated, HookInfo
from chalicelib.store import keys
from chalicelib.store.codec import encode
from chalicelib.store.table import Tx, get_store
from chalicelib.webhooks import github, inbound, signing
from chalicelib.webhooks.errors import SignatureVerificationError, WebhookInputError

REPLAY_SK = "REPLAY"
TRIGGER_DELIVERY_HEADERS = ("webhook-id", "x-webhook-delivery", "idempotency-key")


def hook_url(project_id: int) -> str:
    return f"/api/v1/hooks/github/{project_id}"


# -- configuring a project's GitHub hook ----------------------------------------------------------


def set_github_hook(tenant: str, project_id: int, config: HookConfig) -> HookCreated:
    """Set (or replace) the project's hook; the secret is shown in this answer only."""
    secret = config.secret or secrets.token_urlsafe(32)

    def build(tx: Tx) -> dict[str, Any]:
        now = clock.iso(tx.now)
        tx.update(
            tx.pk,
            keys.entity_sk(projects.KIND, project_id),
            set={"hook_branch": config.branch},
            on_fail=NotFound.entity("Project", project_id),
        )
        item = {
            "PK": keys.github_hook_pk(project_id),
            "SK": keys.tenant_pk(tenant),
            "entity": "github_hook",
            "tenant": tenant,
            "project_id": project_id,
            "branch": config.branch,
            "secret": secret,
            "created_at": now,
        }
        tx.put(item)
        return item

    item = get_store().commit(tenant, build)
    return HookCreated(**_info(item).model_dump(), secret=secret)


def _info(item: dict[str, Any]) -> HookInfo:
    return HookInfo(
        project_id=item["project_id"],
        branch=item["branch"],
        url=hook_url(item["project_id"]),
        created_at=item["created_at"],
    )


def get_github_hook(tenant: str, project_id: int) -> HookInfo:
    item = get_store().get(keys.github_hook_pk(project_id), keys.tenant_pk(tenant))
    if not item:
        raise NotFound(f"Project {project_id} has no GitHub hook")
    return _info(item)


def delete_github_hook(tenant: str, project_id: int) -> None:
    get_github_hook(tenant, project_id)

    def build(tx: Tx) -> None:
        tx.delete(keys.github_hook_pk(project_id), keys.tenant_pk(tenant))
        tx.update(tx.pk, keys.entity_sk(projects.KIND, project_id), remove=["hook_branch"], must_exist=False)

    get_store().commit(tenant, build)


# -- what a push or a trigger does ---------------------------------------------------------------


def rescan_and_redeploy(tenant: str, project_id: int) -> dict[str, Any]:
    """Rescan the project and redeploy its running deployments (scans and deployments own the how:
    each writes its state and job requests in its own transaction)."""
    from chalicelib import deployments, scans  # deferred: only hooks pay for loading them

    project = projects.get_item(tenant, project_id)
    scans.request_scan(tenant, project_id)
    running = sorted(
        int(d["id"]) for d in (project.get("deployments") or {}).values() if d.get("status") == "running"
    )
    for deployment_id in running:
        deployments.request_action(tenant, deployment_id, "redeploy")
    return {
        "message": f"Rescan of project {project_id} requested; {len(running)} deployment(s) redeploying",
        "project_id": project_id,
        "redeployed": running,
    }


def scan_only(tenant: str, project_id: int) -> dict[str, Any]:
    from chalicelib import scans

    projects.get_item(tenant, project_id)
    result = scans.request_scan(tenant, project_id)
    return {
        "message": str(result.get("message", f"Scan initiated for project {project_id}")),
        "project_id": project_id,
    }


# -- replays -------------------------------------------------------------------------------------


def _claim_delivery(key: str) -> bool:
    """Remember a delivery id (conditional put with TTL); False if it was seen before."""
    store = get_store()
    expires = int((clock.now() + timedelta(seconds=inbound.REPLAY_WINDOW_SECONDS)).timestamp())
    try:
        store.client.put_item(
            TableName=store.table,
            Item={
                "PK": encode(key),
                "SK": encode(REPLAY_SK),
                "entity": encode("hook_replay"),
                "expires_at": encode(expires),
            },
            ConditionExpression="attribute_not_exists(PK)",
        )
    except store.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _once(key: str | None, act: Any) -> dict[str, Any] | None:
    """Run `act` unless this delivery was handled before (None then). A failure forgets the delivery
    so the sender's retry can act."""
    if key is None:
        return dict(act())
    if not _claim_delivery(key):
        return None
    try:
        return dict(act())
    except BaseException:
        get_store().delete(key, REPLAY_SK)
        raise


# -- GitHub --------------------------------------------------------------------------------------


def _github_tenant(project_id: int, body: bytes, signature: str | None) -> dict[str, Any]:
    page = get_store().query_page(pk=keys.github_hook_pk(project_id), sk_prefix="T#", limit=100)
    matched = None
    for item in page.items:  # every candidate is checked: the time does not tell which one matched
        try:
            github.verify_signature(item["secret"], body, signature)
            matched = matched or item
        except SignatureVerificationError:
            continue
    if matched is None:
        raise Unauthorized("X-Hub-Signature-256 is missing or does not match the body")
    return matched


def handle_github(project_id: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """headers: lower-cased names."""
    hook = _github_tenant(project_id, body, headers.get(github.SIGNATURE_HEADER.lower()))
    tenant = hook["tenant"]
    event = headers.get(github.EVENT_HEADER.lower(), "")
    if event == "ping":
        return {"message": "pong"}
    if event != "push":
        return {"message": f"Ignored event {event or '(none)'}"}
    try:
        push = github.parse_push(body)
    except WebhookInputError as exc:
        from chalicelib.errors import ValidationFailed

        raise ValidationFailed.field("body", str(exc)) from None
    if not github.should_redeploy(push, hook["branch"]):
        return {"message": f"Ignored push to {push.ref} (the hook follows {hook['branch']})"}
    delivery = headers.get(github.DELIVERY_HEADER.lower())
    key = inbound.replay_key("github", f"{tenant}/{project_id}", delivery) if delivery else None
    result = _once(key, lambda: rescan_and_redeploy(tenant, project_id))
    if result is None:
        return {"message": f"Delivery {delivery} was already processed"}
    logger.info("github push handled", extra={"tenant": tenant, "project_id": project_id, "ref": push.ref})
    return result


# -- triggers ------------------------------------------------------------------------------------


def _as_stored_secret(provided: str | None) -> str | None:
    """Secrets are stored in the `whsec_` form; accept the passphrase a hook was created with too."""
    if provided is None:
        return None
    try:
        return signing.normalize_secret(provided)
    except WebhookInputError:
        return provided


def handle_trigger(webhook_id: int, headers: dict[str, str]) -> dict[str, Any]:
    from chalicelib.webhooks import service

    provided = _as_stored_secret(headers.get(inbound.TRIGGER_SECRET_HEADER))
    matched = None
    for item in service.items_with_id(webhook_id):
        if inbound.secrets_equal(item["secret"], provided):
            matched = matched or item
    if matched is None:
        raise Unauthorized("x-webhook-secret is missing or wrong")
    delivery = next((headers[h] for h in TRIGGER_DELIVERY_HEADERS if headers.get(h)), None)
    # The index may lag: act on the webhook as it is now.
    return run_action(matched["tenant"], webhook_id, delivery_id=delivery)


def run_action(
    tenant: str, webhook_id: int, *, delivery_id: str | None = None, item: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the action configured on a webhook (triggers, and in-process callers that know the tenant).
    With a delivery id the action runs once however often it is asked."""
    from chalicelib.webhooks import service

    item = item or service.get_item(tenant, webhook_id)
    if not item.get("enabled"):
        raise Conflict(f"Webhook {webhook_id} is disabled")
    action = item.get("action")
    if not action:
        raise Conflict(f"Webhook {webhook_id} has no action configured")
    key = inbound.replay_key("trigger", f"{tenant}/{webhook_id}", delivery_id) if delivery_id else None
    project_id = int(action["project_id"])
    if action["type"] == "scan":
        result = _once(key, lambda: scan_only(tenant, project_id))
    else:
        result = _once(key, lambda: rescan_and_redeploy(tenant, project_id))
    if result is None:
        return {"message": f"Delivery {delivery_id} was already processed"}
    return {**result, "action": action["type"]}
