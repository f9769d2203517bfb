"""Deployments: what should run where, its status machine, revisions and the jobs that make it so.

The API records intent (a deployment, a revision, an action) and requests a job on the deployment's
host in the same transaction; the host's worker does the Docker work and reports back through
`transition`, so every status change, whoever makes it, writes the item, its history, the list
counters, the project's `deployments` map, the port claim and a `deployment_status` event at once.
Business rules only: no HTTP, no boto3, no Docker."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from chalicelib import clock, events, hosts, jobs, projects
from chalicelib.config import get_settings
from chalicelib.errors import BadRequest, Conflict, DependencyUnavailable, NotFound, ValidationFailed
from chalicelib.models.deployments import (
    Deployment,
    DeploymentDetail,
    DeploymentLogs,
    DeployRequest,
    RedeployRequest,
    Revision,
)
from chalicelib.store import keys
from chalicelib.store.table import Filter, Page, Tx, get_store

KIND = "DEPLOY"
REVISION_KIND = "DEPREV"
LOG_KIND = "DEPLOG"
HEADER = keys.header_sk(KIND)
RUN = "workers.deploy_jobs.run_deployment"
CONTROL = "workers.deploy_jobs.control"

ACTIVE = ("pending", "building", "starting", "running")
# Statuses in which a deployment gives its port back; every other one keeps it reserved, including
# `failed` (the deployment is still wanted: reconcile restarts it, a redeploy reuses the port).
PORT_FREE = ("stopped", "cancelled")
IN_FLIGHT = ("pending", "building", "starting")
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"building", "starting", "running", "failed", "cancelled", "stopped"}),
    "building": frozenset({"starting", "running", "failed", "cancelled"}),
    "starting": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"pending", "starting", "failed", "stopped"}),
    "failed": frozenset({"pending", "starting", "running", "stopped"}),
    "stopped": frozenset({"pending"}),
    "cancelled": frozenset({"pending"}),
}
HISTORY_KEPT = 50
LOG_KEPT = 64 * 1024
REDACTED = "[REDACTED]"
# Shorter values ("1", "on") would black out unrelated text in every log line.
MIN_REDACTED_LENGTH = 4


class PortInUse(BadRequest):
    code = "PORT_IN_USE"


class ImageGone(Conflict):
    code = "IMAGE_GONE"


class IllegalTransition(Conflict):
    code = "ILLEGAL_TRANSITION"


class Stale(Conflict):
    """The deployment changed between our read and our write (version check)."""


# keys ---------------------------------------------------------------------------------------------
def deployment_sk(deployment_id: int) -> str:
    return keys.entity_sk(KIND, deployment_id)


def revision_sk(deployment_id: int, revision: int) -> str:
    return f"{REVISION_KIND}#{deployment_id:012d}#{revision:06d}"


def log_sk(deployment_id: int) -> str:
    return keys.entity_sk(LOG_KIND, deployment_id)


def _by_status(tenant: str, status: str) -> str:
    return keys.tenant_index_pk(tenant, KIND, "status", status)


def _by_project(tenant: str, project_id: int) -> str:
    return keys.tenant_index_pk(tenant, projects.KIND, project_id, KIND)


def by_host(tenant: str, host: str) -> str:
    """GSI3 partition of every deployment placed on one of the tenant's hosts (reconcile reads it)."""
    return keys.tenant_index_pk(tenant, "HOST", host, KIND)


def port_claim_sk(host: str, port: int) -> str:
    """One claim item per port of a host (hosts belong to a tenant): taken in the same transaction
    as the status change that needs the port, so two deployments can never hold it at once."""
    return f"PORT#{host}#{port:05d}"


# hosts (the registry of worker hosts is chalicelib/hosts.py) --------------------------------------
def project_and_host(
    tenant: str, project_id: int, requested: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The project and the host item a deployment goes to: the host named (registered, online or
    not: its queue waits for it), else the configured default, else an online host of the tenant.
    A named host is read with the project (and the tenant's meta, for the commit that follows) in
    one call."""
    name = requested or get_settings().deploy_default_host
    if not name:
        return projects.get_item(tenant, project_id), choose_host(tenant, None)
    pk = keys.tenant_pk(tenant)
    project_sk = keys.entity_sk(projects.KIND, project_id)
    found = {
        item["SK"]: item
        for item in get_store().batch_get([(pk, project_sk), (pk, hosts.host_sk(name))], meta_of=tenant)
    }
    if project_sk not in found:
        raise NotFound.entity("Project", project_id)
    if hosts.host_sk(name) not in found:
        raise ValidationFailed.field("host", f"no host named {name!r} is registered")
    return found[project_sk], found[hosts.host_sk(name)]


def choose_host(tenant: str, requested: str | None) -> dict[str, Any]:
    """The named host, else the first online host of the tenant by name."""
    if requested:
        try:
            return hosts.get_item(tenant, requested)
        except NotFound:
            raise ValidationFailed.field("host", f"no host named {requested!r} is registered") from None
    online = sorted(hosts.online_hosts(tenant), key=lambda h: h.name)
    if not online:
        raise DependencyUnavailable(
            "No worker host is online to deploy to; start one with `python -m workers.host --name NAME`"
        )
    return hosts.get_item(tenant, online[0].name)


def port_bound_on_host(host: dict[str, Any], port: int) -> bool:
    """Whether the host's latest heartbeat reports something listening on the port."""
    return port in {int(p) for p in (host.get("metrics") or {}).get("listening_ports", [])}


# limits -------------------------------------------------------------------------------------------
def check_limits(cpu_limit: str | None, memory_limit: str | None) -> None:
    from chalicelib import limits

    problems = []
    for field, value, parse in (
        ("cpu_limit", cpu_limit, limits.parse_cpu),
        ("memory_limit", memory_limit, limits.parse_memory),
    ):
        if value is None:
            continue
        try:
            parse(value)
        except ValueError as exc:
            problems.append({"field": field, "problem": str(exc)})
    if problems:
        raise ValidationFailed("; ".join(f"{p['field']}: {p['problem']}" for p in problems), details=problems)


# views --------------------------------------------------------------------------------------------
def public(item: dict[str, Any]) -> Deployment:
    return Deployment.model_validate(item)


def detail(item: dict[str, Any]) -> DeploymentDetail:
    return DeploymentDetail.model_validate({**item, "status_history": item.get("history", [])})


def summary(item: dict[str, Any]) -> dict[str, Any]:
    """What the project item keeps of each of its deployments (GET /projects/{id})."""
    return {"id": item["id"], "port": item["port"], "status": item["status"], "name": item["name"]}


def event_data(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "status": item["status"],
        "port": item["port"],
        "project_id": item["project_id"],
        "name": item["name"],
        "host": item["host"],
        "revision": item["revision"],
        "reason": item.get("status_reason"),
        "container_id": item.get("container_id"),
    }


def config_of(item: dict[str, Any]) -> dict[str, Any]:
    """The settings a revision runs with: recorded per revision so a rollback can run them again."""
    return {
        "port": item["port"],
        "container_port": item["container_port"],
        "environment": item["environment"],
        "cpu_limit": item.get("cpu_limit"),
        "memory_limit": item.get("memory_limit"),
        "image": item.get("image"),
        "health_check_path": item["health_check_path"],
    }


# reads --------------------------------------------------------------------------------------------
def get_item(tenant: str, deployment_id: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), deployment_sk(deployment_id))
    if not item:
        raise NotFound.entity("Deployment", deployment_id)
    return item


def get_deployment(tenant: str, deployment_id: int) -> DeploymentDetail:
    return detail(get_item(tenant, deployment_id))


def get_revision_item(tenant: str, deployment_id: int, revision: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), revision_sk(deployment_id, revision))
    if not item:
        raise NotFound(f"Revision {revision} of deployment {deployment_id} not found")
    return item


def get_with_revision(
    tenant: str, deployment_id: int, revision: int
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The deployment and one of its revisions in one read (None for what does not exist), with the
    tenant's meta for the report that follows."""
    pk = keys.tenant_pk(tenant)
    found = {
        item["SK"]: item
        for item in get_store().batch_get(
            [(pk, deployment_sk(deployment_id)), (pk, revision_sk(deployment_id, revision))],
            meta_of=tenant,
        )
    }
    return found.get(deployment_sk(deployment_id)), found.get(revision_sk(deployment_id, revision))


def list_deployments(
    tenant: str,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    status: str | None = None,
    project_id: int | None = None,
) -> tuple[list[Deployment], Page, int]:
    store = get_store()
    pk = keys.tenant_pk(tenant)
    common: dict[str, Any] = {"sk_prefix": f"{KIND}#", "limit": limit, "offset": offset, "cursor": cursor}
    if project_id is not None:
        project = projects.get_item(tenant, project_id)  # another tenant's project is simply not found
        facet = _by_project(tenant, project_id)
        where = Filter(equals={"status": status}) if status else None
        page = store.query_page(pk=facet, base_pk=pk, index="GSI1", where=where, **common)
        if where:
            total = store.count(pk=facet, index="GSI1", sk_prefix=f"{KIND}#", where=where)
        else:
            total = len(project.get("deployments") or {})
    elif status is not None:
        page = store.query_page(pk=_by_status(tenant, status), base_pk=pk, index="GSI2", **common)
        total = int((store.get(pk, HEADER) or {}).get(f"status_{status}", 0))
    else:
        page = store.query_page(pk=pk, header_sk=HEADER, **common)
        total = page.total()
    return [public(item) for item in page.items], page, total


def list_revisions(tenant: str, deployment_id: int) -> list[Revision]:
    get_item(tenant, deployment_id)
    page = get_store().query_page(
        pk=keys.tenant_pk(tenant),
        sk_prefix=f"{REVISION_KIND}#{deployment_id:012d}#",
        limit=500,
        newest_first=True,
    )
    return [Revision.model_validate(item) for item in page.items]


def deployments_on_host(tenant: str, host: str) -> list[dict[str, Any]]:
    """Every deployment placed on a host (reconcile's desired state)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = get_store().query_page(
            pk=by_host(tenant, host),
            base_pk=keys.tenant_pk(tenant),
            index="GSI3",
            sk_prefix=f"{KIND}#",
            limit=200,
            cursor=cursor,
        )
        items.extend(page.items)
        if not page.next_cursor:
            return items
        cursor = page.next_cursor


def redact(text: str, environment: dict[str, str]) -> str:
    """Hide the values of a deployment's environment wherever they appear (longest first)."""
    secrets = sorted(
        {v for v in environment.values() if len(v) >= MIN_REDACTED_LENGTH}, key=len, reverse=True
    )
    if not secrets or not text:
        return text
    return re.sub("|".join(re.escape(s) for s in secrets), REDACTED, text)


def get_logs(tenant: str, deployment_id: int) -> DeploymentLogs:
    item = get_item(tenant, deployment_id)
    logs = get_store().get(keys.tenant_pk(tenant), log_sk(deployment_id)) or {}
    # Stored logs were redacted with the environment of their day; redact again with today's.
    environment = item["environment"]
    return DeploymentLogs(
        deployment_id=deployment_id,
        revision=logs.get("revision"),
        build_log=redact(logs.get("build_log", ""), environment),
        container_log=redact(logs.get("container_log", ""), environment),
        captured_at=logs.get("captured_at"),
    )


# the one write path of a deployment ---------------------------------------------------------------
def _claim_port(tx: Tx, item: dict[str, Any]) -> None:
    sk = port_claim_sk(item["host"], item["port"])
    tx.put(
        {"PK": tx.pk, "SK": sk, "entity": "port_claim", "tenant": tx.tenant, "deployment_id": item["id"]},
        create_only=True,
        on_fail=PortInUse(f"Port {item['port']} is already in use"),
    )


def _release_port(tx: Tx, item: dict[str, Any]) -> None:
    tx.delete(tx.pk, port_claim_sk(item["host"], item["port"]), must_exist=False)


def _count_status(tx: Tx, status: str, delta: int) -> None:
    tx.count(KIND, f"status_{status}", delta)
    if status in ACTIVE:
        tx.count(KIND, "active", delta)


def apply(
    tx: Tx,
    item: dict[str, Any],
    changes: dict[str, Any] | None = None,
    *,
    status: str | None = None,
    reason: str | None = None,
    project_exists: bool = True,
) -> dict[str, Any]:
    """Add one change of a deployment to a transaction: new fields and optionally a new status.
    Returns the item as it will be. The item's version guards against lost updates."""
    changes = dict(changes or {})
    old_status = item["status"]
    if status is not None and status != old_status and status not in TRANSITIONS[old_status]:
        raise IllegalTransition(f"Deployment {item['id']} cannot go from {old_status} to {status}")
    moved = status is not None and status != old_status
    now = clock.iso(tx.now)
    if moved:
        assert status is not None
        entry = {
            "status": status,
            "at": now,
            "reason": reason,
            "revision": changes.get("revision", item["revision"]),
        }
        changes.update(
            status=status,
            status_reason=reason,
            history=[*item.get("history", []), entry][-HISTORY_KEPT:],
            GSI2PK=_by_status(tx.tenant, status),
        )
    elif reason is not None:
        changes["status_reason"] = reason
    new = {**item, **changes, "updated_at": now, "version": item["version"] + 1}
    assignments = {k: new[k] for k in (*changes, "updated_at", "version")}
    tx.update(
        tx.pk,
        item["SK"],
        set=assignments,
        if_version=item["version"],
        on_fail=Stale(f"Deployment {item['id']} changed meanwhile; retry"),
    )
    if moved:
        assert status is not None
        _count_status(tx, old_status, -1)
        _count_status(tx, status, 1)
        if status in PORT_FREE and old_status not in PORT_FREE:
            _release_port(tx, new)
        elif old_status in PORT_FREE and status not in PORT_FREE:
            _claim_port(tx, new)
        events.deployment_status(tx, event_data(new))
    if moved and project_exists:
        tx.update(
            tx.pk,
            keys.entity_sk(projects.KIND, item["project_id"]),
            set_in={("deployments", str(item["id"])): summary(new)},
            on_fail=NotFound.entity("Project", item["project_id"]),
        )
    return new


def change(
    tenant: str,
    deployment_id: int,
    build: Callable[[Tx, dict[str, Any]], Any],
    *,
    attempts: int = 5,
    item: dict[str, Any] | None = None,
) -> Any:
    """Read the deployment (or start from the `item` the caller holds), build a change on it,
    commit; read again and rebuild when someone else changed it meanwhile (a worker's transition
    racing a user's cancel, say)."""
    for attempt in range(attempts):
        if item is None or attempt > 0:
            item = get_item(tenant, deployment_id)
        try:
            return get_store().commit(tenant, functools.partial(_build_on, build, item))
        except Stale:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _build_on(build: Callable[[Tx, dict[str, Any]], Any], item: dict[str, Any], tx: Tx) -> Any:
    return build(tx, item)


def _job_id(tx: Tx, item: dict[str, Any], what: str) -> str:
    # RQ ids take letters, digits, "_" and "-"; the per-deployment counter keeps retried requests apart.
    return f"{tx.tenant}-deploy-{item['id']}-{int(item.get('jobs_requested', 0)) + 1}-{what}"


def _request(
    tx: Tx, item: dict[str, Any], function: str, kwargs: dict[str, Any], what: str
) -> tuple[str, dict[str, Any]]:
    job_id = _job_id(tx, item, what)
    jobs.request_job(
        tx,
        function=function,
        kwargs={"tenant": tx.tenant, "deployment_id": item["id"], **kwargs},
        queue=jobs.host_queue(item["host"]),
        job_id=job_id,
    )
    return job_id, {"jobs_requested": int(item.get("jobs_requested", 0)) + 1}


def _new_revision(
    tx: Tx,
    item: dict[str, Any],
    config: dict[str, Any],
    *,
    reason: str,
    image_id: str | None = None,
    rollback_of: int | None = None,
) -> dict[str, Any]:
    """A new revision of the deployment and the job that rolls it out."""
    revision = int(item.get("revision") or 0) + 1
    tx.put(
        {
            "PK": tx.pk,
            "SK": revision_sk(item["id"], revision),
            "entity": "deployment_revision",
            "deployment_id": item["id"],
            "revision": revision,
            "status": "pending",
            "config": config,
            "image": config.get("image"),
            "image_id": image_id,
            "rollback_of": rollback_of,
            "created_at": clock.iso(tx.now),
        },
        create_only=True,
    )
    job_id, counters = _request(tx, item, RUN, {"revision": revision}, f"r{revision}")
    return {
        **config,
        **counters,
        "revision": revision,
        "job": job_id,
        "desired": "running",
        "cancel_requested": False,
    }


# entry points -------------------------------------------------------------------------------------
def create_deployment(tenant: str, request: DeployRequest) -> dict[str, Any]:
    """Record a deployment and its first revision, claim its port, and request the rollout job."""
    project, host_item = project_and_host(tenant, request.project_id, request.host)
    check_limits(request.cpu_limit, request.memory_limit)
    if port_bound_on_host(host_item, request.port):
        raise PortInUse(f"Port {request.port} is already in use")
    host, address = host_item["name"], host_item.get("address") or "localhost"

    def build(tx: Tx) -> int:
        deployment_id = tx.new_id("deployment")
        now = clock.iso(tx.now)
        item: dict[str, Any] = {
            "PK": tx.pk,
            "SK": deployment_sk(deployment_id),
            "GSI1PK": _by_project(tenant, request.project_id),
            "GSI1SK": deployment_sk(deployment_id),
            "GSI2PK": _by_status(tenant, "pending"),
            "GSI2SK": deployment_sk(deployment_id),
            "GSI3PK": by_host(tenant, host),
            "GSI3SK": deployment_sk(deployment_id),
            "entity": "deployment",
            "tenant": tenant,
            "id": deployment_id,
            "project_id": project["id"],
            "project_path": project["path"],
            "name": request.name,
            "host": host,
            "address": address,
            "port": request.port,
            "container_port": request.container_port or request.port,
            "environment": request.environment,
            "cpu_limit": request.cpu_limit,
            "memory_limit": request.memory_limit,
            "image": request.image,
            "health_check_path": request.health_check_path,
            "url": f"http://{address}:{request.port}",
            "health_check_url": f"http://{address}:{request.port}{request.health_check_path}",
            "status": "pending",
            "status_reason": "deployment requested",
            "history": [{"status": "pending", "at": now, "reason": "deployment requested", "revision": 1}],
            "container_id": None,
            "image_id": None,
            "started_at": None,
            "serving_revision": None,
            "revision": 0,
            "desired": "running",
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        item.update(_new_revision(tx, item, config_of(item), reason="deployment requested"))
        tx.put(item, create_only=True)
        _claim_port(tx, item)
        tx.update(
            tx.pk,
            project["SK"],
            set_in={("deployments", str(deployment_id)): summary(item)},
            on_fail=NotFound.entity("Project", request.project_id),
        )
        tx.count(KIND)
        _count_status(tx, "pending", 1)
        events.deployment_status(tx, event_data(item))
        return deployment_id

    deployment_id = get_store().commit(tenant, build)
    return {"message": f"Deployment created on port {request.port}", "id": deployment_id}


def _busy(item: dict[str, Any]) -> Conflict:
    return Conflict(
        f"Deployment {item['id']} has a job in progress ({item['job']}); wait for it or cancel it"
    )


def request_action(tenant: str, deployment_id: int, action: str) -> dict[str, Any]:
    """stop | restart | cancel | redeploy: record the intent and request the job that carries it out."""
    if action == "redeploy":
        return redeploy(tenant, deployment_id, RedeployRequest())
    handlers = {"stop": _stop, "restart": _restart, "cancel": _cancel}
    if action not in handlers:
        raise ValidationFailed.field("action", "must be one of stop, restart, cancel, redeploy")
    return change(tenant, deployment_id, handlers[action])


def _check_usable(item: dict[str, Any], action: str) -> None:
    if item.get("desired") == "deleted":
        raise Conflict(f"Deployment {item['id']} is being deleted")
    if item.get("job") and action != "cancel":
        raise _busy(item)


def _stop(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
    _check_usable(item, "stop")
    reply = {"message": f"Deployment {item['id']} stopped"}
    if item["status"] in PORT_FREE:
        return reply  # already stopped: nothing to do, same answer
    job_id, counters = _request(tx, item, CONTROL, {"action": "stop"}, "stop")
    apply(tx, item, {"job": job_id, "desired": "stopped", **counters})
    return reply


def _restart(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
    _check_usable(item, "restart")
    if item["status"] == "running":
        job_id, counters = _request(tx, item, CONTROL, {"action": "restart"}, "restart")
        apply(tx, item, {"job": job_id, **counters})
    else:
        # Nothing runs (stopped, failed, cancelled): start it again as a new revision of its config.
        _redeploy(tx, item, {}, reason="restart requested")
    return {"message": f"Deployment {item['id']} restarted"}


def _cancel(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
    _check_usable(item, "cancel")
    if item["status"] not in IN_FLIGHT or not item.get("job"):
        raise Conflict(f"Deployment {item['id']} has no rollout in progress (status {item['status']})")
    if item.get("cancel_requested"):
        return {"message": f"Deployment {item['id']} cancellation requested"}
    # The rollout job sees the flag at its next phase; the control job settles the end state after it.
    job_id, counters = _request(tx, item, CONTROL, {"action": "cancel"}, "cancel")
    apply(tx, item, {"cancel_requested": True, "cancel_job": job_id, **counters})
    return {"message": f"Deployment {item['id']} cancellation requested"}


def _redeploy(
    tx: Tx,
    item: dict[str, Any],
    changes: dict[str, Any],
    *,
    reason: str,
    image_id: str | None = None,
    rollback_of: int | None = None,
) -> dict[str, Any]:
    config = {**config_of(item), **changes}
    fields = _new_revision(tx, item, config, reason=reason, image_id=image_id, rollback_of=rollback_of)
    fields["health_check_url"] = f"http://{item['address']}:{item['port']}{config['health_check_path']}"
    return apply(tx, item, fields, status="pending", reason=reason, project_exists=True)


def redeploy(tenant: str, deployment_id: int, request: RedeployRequest) -> dict[str, Any]:
    """A new revision (optionally with changed settings) rolled out next to the serving one."""
    changes = request.model_dump(exclude_unset=True, exclude_none=True)
    check_limits(changes.get("cpu_limit"), changes.get("memory_limit"))
    item = get_item(tenant, deployment_id)
    projects.get_item(tenant, item["project_id"])  # a deleted project cannot be built again

    def build(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
        _check_usable(item, "redeploy")
        new = _redeploy(tx, item, changes, reason=f"revision {int(item['revision']) + 1} requested")
        return {
            "message": f"Deployment {deployment_id} redeploying revision {new['revision']}",
            "revision": new["revision"],
        }

    return change(tenant, deployment_id, build)


def rollback(tenant: str, deployment_id: int, revision: int) -> dict[str, Any]:
    """Run a recorded revision's configuration and image again, as a new revision."""
    item = get_item(tenant, deployment_id)
    target = get_revision_item(tenant, deployment_id, revision)
    if not target.get("image_id"):
        raise ImageGone(
            f"Revision {revision} of deployment {deployment_id} never produced an image "
            f"({target.get('reason') or target['status']}); nothing to roll back to"
        )
    if target.get("image_available") is False:
        raise ImageGone(
            f"The image of revision {revision} ({target['image_id'][:19]}) is no longer on host "
            f"{item['host']}; redeploy instead"
        )
    projects.get_item(tenant, item["project_id"])

    def build(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
        _check_usable(item, "rollback")
        new = _redeploy(
            tx,
            item,
            dict(target["config"]),
            reason=f"rollback to revision {revision}",
            image_id=target["image_id"],
            rollback_of=revision,
        )
        return {
            "message": f"Deployment {deployment_id} rolling back to revision {revision}",
            "revision": new["revision"],
        }

    return change(tenant, deployment_id, build)


def request_delete(tenant: str, deployment_id: int) -> dict[str, Any]:
    """Deleting removes the container on the host first; the job then deletes the records."""

    def build(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
        _check_usable(item, "delete")
        job_id, counters = _request(tx, item, CONTROL, {"action": "delete"}, "delete")
        apply(tx, item, {"job": job_id, "desired": "deleted", **counters})
        return {"message": f"Deployment {deployment_id} deletion requested"}

    return change(tenant, deployment_id, build)


def delete_records(tx: Tx, item: dict[str, Any], project_exists: bool) -> None:
    """The last step of a delete, run by the worker once the container is gone and the revision
    records are removed (they can outnumber what one transaction holds)."""
    tx.delete(tx.pk, item["SK"], on_fail=Stale(f"Deployment {item['id']} changed meanwhile; retry"))
    tx.delete(tx.pk, log_sk(item["id"]), must_exist=False)
    if item["status"] not in PORT_FREE:
        _release_port(tx, item)
    tx.count(KIND, delta=-1)
    _count_status(tx, item["status"], -1)
    if project_exists:
        tx.update(
            tx.pk,
            keys.entity_sk(projects.KIND, item["project_id"]),
            remove_in=[("deployments", str(item["id"]))],
        )
    events.deployment_status(tx, {**event_data(item), "status": "deleted", "reason": "deleted"})


# what workers report ------------------------------------------------------------------------------
def report(
    tenant: str,
    deployment_id: int,
    *,
    status: str | None = None,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
    revision: int | None = None,
    revision_changes: dict[str, Any] | None = None,
    more_revisions: dict[int, dict[str, Any]] | None = None,
    only_if: Callable[[dict[str, Any]], bool] | None = None,
    item: dict[str, Any] | None = None,
    logs: tuple[str, str] | None = None,
) -> dict[str, Any] | None:
    """A worker's account of what happened: the deployment's new fields and status, and its
    revisions', in one transaction. Returns the deployment as written (pass it as `item` to the next
    report to save a read). `only_if` sees the current item and may decline (returns None), which is
    how a retried job avoids applying the same step twice. `logs` (build log, container log) are
    stored with the change."""
    revisions = dict(more_revisions or {})
    if revision is not None and revision_changes:
        revisions[revision] = revision_changes

    def build(tx: Tx, current: dict[str, Any], project_exists: bool) -> dict[str, Any] | None:
        if only_if is not None and not only_if(current):
            return None
        new = apply(tx, current, changes, status=status, reason=reason, project_exists=project_exists)
        for number, fields in revisions.items():
            tx.update(tx.pk, revision_sk(deployment_id, number), set=fields)
        if logs is not None:
            tx.put(_logs_item(tx.tenant, current, revision, *logs))
        return new

    try:
        return change(tenant, deployment_id, functools.partial(_with_project, build, True), item=item)
    except NotFound as exc:
        if not exc.message.startswith("Project with id"):
            raise
    # The project was deleted meanwhile: the deployment's own records still change.
    return change(tenant, deployment_id, functools.partial(_with_project, build, False))


def _with_project(build: Callable[..., Any], project_exists: bool, tx: Tx, item: dict[str, Any]) -> Any:
    return build(tx, item, project_exists)


def _logs_item(
    tenant: str, item: dict[str, Any], revision: int | None, build_log: str, container_log: str
) -> dict[str, Any]:
    environment = item["environment"]
    return {
        "PK": keys.tenant_pk(tenant),
        "SK": log_sk(item["id"]),
        "entity": "deployment_logs",
        "revision": revision,
        "build_log": redact(build_log, environment)[-LOG_KEPT:],
        "container_log": redact(container_log, environment)[-LOG_KEPT:],
        "captured_at": clock.iso(clock.now()),
    }


def save_logs(
    tenant: str,
    deployment_id: int,
    revision: int | None,
    build_log: str,
    container_log: str,
    environment: dict[str, str] | None = None,
) -> None:
    """Keep the latest build and container logs (tails) where the API can read them; values of the
    environment are redacted before they are stored and again when they are read."""
    if environment is None:
        environment = get_item(tenant, deployment_id)["environment"]
    item = {"id": deployment_id, "environment": environment}
    get_store().put(_logs_item(tenant, item, revision, build_log, container_log))


def mark_images_gone(tenant: str, deployment_id: int, image_ids: set[str]) -> list[int]:
    """Revisions whose image the host pruned: a rollback to them is refused with a clear error."""
    gone = []
    for revision in list_revisions(tenant, deployment_id):
        if revision.image_id in image_ids and revision.image_available:
            sk = revision_sk(deployment_id, revision.revision)
            get_store().commit(tenant, functools.partial(_mark_gone, sk))
            gone.append(revision.revision)
    return gone


def _mark_gone(sk: str, tx: Tx) -> None:
    tx.update(tx.pk, sk, set={"image_available": False})


def delete_revision(tenant: str, deployment_id: int, revision: int) -> None:
    """Remove one revision record (a delete removes them before the deployment item)."""
    get_store().delete(keys.tenant_pk(tenant), revision_sk(deployment_id, revision))


def refresh_container_log(tenant: str, item: dict[str, Any], container_log: str) -> bool:
    """Replace the stored container log when the container wrote more (reconcile calls this every
    round, so GET .../logs is at most a round behind); the build log stays. True when it changed."""
    environment = item["environment"]
    text = redact(container_log, environment)[-LOG_KEPT:]
    stored = get_store().get(keys.tenant_pk(tenant), log_sk(item["id"])) or {}
    if stored.get("container_log") == text:
        return False
    revision = item.get("serving_revision")
    build_log = stored.get("build_log", "") if stored.get("revision") == revision else ""
    save_logs(tenant, item["id"], revision, build_log, container_log, environment)
    return True
