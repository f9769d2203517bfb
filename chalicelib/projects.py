"""Projects: the unit a user registers, scans and deploys. Business rules only; storage through the
store, no HTTP."""

from __future__ import annotations

from typing import Any

from chalicelib import clock, events, paths
from chalicelib.config import get_settings
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.models.projects import Project, ProjectCreate, ProjectDetail, ProjectUpdate
from chalicelib.store import keys
from chalicelib.store.table import Filter, Page, Tx, get_store

KIND = "PROJECT"
# Scores a project starts with before its first scan (the reference's create example).
INITIAL_SCORES = {"health_score": 0, "vibe_score": 75, "eco_score": 80}
ACTIVE_DEPLOYMENT_STATES = ("pending", "building", "starting", "running")


def _active_facet(tenant: str, active: bool) -> str:
    return keys.tenant_index_pk(tenant, KIND, "active" if active else "inactive")


def _check_roots(path: str) -> None:
    """Lexical check against the host's roots (chalicelib/paths.py); the scanner checks again on the host."""
    settings = get_settings()
    if settings.stage == "local":
        # A developer's own machine: any absolute path, as the reference's examples use
        # (/projects/...). The host's scanner still refuses one outside its roots (scan_message).
        return
    if not settings.project_roots:
        raise ValidationFailed.field("path", "no project roots are configured (BORGOS_PROJECT_ROOTS)")
    try:
        paths.check_under_roots(path, settings.project_roots)
    except paths.PathRefused as exc:
        raise ValidationFailed.field("path", str(exc)) from exc


def public(item: dict[str, Any]) -> Project:
    return Project.model_validate(item)


def detail(item: dict[str, Any]) -> ProjectDetail:
    deployments = sorted((item.get("deployments") or {}).values(), key=lambda d: d["id"])
    return ProjectDetail.model_validate({**item, "deployments": deployments})


def _event_view(item: dict[str, Any]) -> dict[str, Any]:
    return public(item).model_dump(mode="json")


def create_project(tenant: str, request: ProjectCreate) -> Project:
    _check_roots(request.path)

    def build(tx: Tx) -> dict[str, Any]:
        project_id = tx.new_id("project")
        now = clock.iso(tx.now)
        item: dict[str, Any] = {
            "PK": tx.pk,
            "SK": keys.entity_sk(KIND, project_id),
            "GSI1PK": _active_facet(tenant, request.is_active),
            "GSI1SK": keys.entity_sk(KIND, project_id),
            "entity": "project",
            "id": project_id,
            **request.model_dump(),
            "host": request.host or get_settings().default_host,
            **INITIAL_SCORES,
            "errors": [],
            "deployments": {},
            "error_count": 0,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        tx.put(item, create_only=True)
        tx.count(KIND)
        tx.count(KIND, "active" if request.is_active else "inactive")
        events.project_event(tx, "created", _event_view(item))
        return item

    return public(get_store().commit(tenant, build))


def get_item(tenant: str, project_id: int) -> dict[str, Any]:
    item = get_store().get(keys.tenant_pk(tenant), keys.entity_sk(KIND, project_id))
    if not item:
        raise NotFound.entity("Project", project_id)
    return item


def get_project(tenant: str, project_id: int) -> ProjectDetail:
    return detail(get_item(tenant, project_id))


def list_projects(
    tenant: str,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    active: bool | None = None,
    tech_stack: str | None = None,
) -> tuple[list[Project], Page, int]:
    """One page and the total. Unfiltered, the first page and its total come from one Query."""
    store = get_store()
    pk = keys.tenant_pk(tenant)
    where = Filter(contains={"tech_stack": tech_stack.lower()}) if tech_stack else None
    if active is None:
        page = store.query_page(
            pk=pk,
            sk_prefix=f"{KIND}#",
            header_sk=keys.header_sk(KIND),
            limit=limit,
            offset=offset,
            cursor=cursor,
            where=where,
        )
        total = store.count(pk=pk, sk_prefix=f"{KIND}#", where=where) if where else page.total()
    else:
        facet = _active_facet(tenant, active)
        page = store.query_page(
            pk=facet,
            base_pk=pk,
            index="GSI1",
            sk_prefix=f"{KIND}#",
            limit=limit,
            offset=offset,
            cursor=cursor,
            where=where,
        )
        if where:
            total = store.count(pk=facet, index="GSI1", sk_prefix=f"{KIND}#", where=where)
        else:
            header = store.get(pk, keys.header_sk(KIND)) or {}
            total = int(header.get("active" if active else "inactive", 0))
    return [public(item) for item in page.items], page, total


def update_project(tenant: str, project_id: int, request: ProjectUpdate) -> Project:
    changes = request.model_dump(exclude_unset=True)
    if not changes:
        raise ValidationFailed.field("body", "name at least one field to change")
    if any(value is None for key, value in changes.items() if key not in ("description", "zenith_id")):
        field = next(k for k, v in changes.items() if v is None and k not in ("description", "zenith_id"))
        raise ValidationFailed.field(field, "must not be null")
    if "path" in changes:
        _check_roots(changes["path"])
    store = get_store()
    current = get_item(tenant, project_id)

    def build(tx: Tx) -> dict[str, Any]:
        updated = {**current, **changes, "updated_at": clock.iso(tx.now), "version": current["version"] + 1}
        assignments = {k: updated[k] for k in (*changes, "updated_at", "version")}
        if "is_active" in changes and changes["is_active"] != current["is_active"]:
            assignments["GSI1PK"] = _active_facet(tenant, changes["is_active"])
            tx.count(KIND, "active", 1 if changes["is_active"] else -1)
            tx.count(KIND, "inactive", -1 if changes["is_active"] else 1)
        tx.update(
            tx.pk,
            current["SK"],
            set=assignments,
            if_version=current["version"],
            on_fail=Conflict(f"Project {project_id} changed meanwhile; retry"),
        )
        events.project_event(tx, "updated", _event_view(updated))
        return updated

    return public(store.commit(tenant, build))


def delete_project(tenant: str, project_id: int) -> None:
    store = get_store()
    current = get_item(tenant, project_id)
    active = [
        d for d in (current.get("deployments") or {}).values() if d["status"] in ACTIVE_DEPLOYMENT_STATES
    ]
    if active:
        raise Conflict(
            f"Project {project_id} has {len(active)} active deployment(s); stop them before deleting it"
        )

    def build(tx: Tx) -> None:
        tx.delete(tx.pk, current["SK"], on_fail=Conflict(f"Project {project_id} changed meanwhile; retry"))
        # Its GitHub hook goes with it (ids are never reused, but the secret should not outlive it);
        # its search index is removed from S3 by the stream handler when it sees this delete.
        tx.delete(keys.github_hook_pk(project_id), keys.tenant_pk(tenant), must_exist=False)
        tx.count(KIND, delta=-1)
        tx.count(KIND, "active" if current["is_active"] else "inactive", -1)
        events.project_event(tx, "deleted", {"id": project_id, "name": current["name"]})

    store.commit(tenant, build)
