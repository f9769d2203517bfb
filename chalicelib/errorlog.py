"""Errors reported by projects (and found by scans): logged, listed newest first, counted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, events
from chalicelib.config import get_settings
from chalicelib.errors import NotFound
from chalicelib.models.errors import ErrorCreate, ErrorRecord
from chalicelib.projects import KIND as PROJECT_KIND
from chalicelib.projects import get_item as get_project_item
from chalicelib.store import keys
from chalicelib.store.table import Filter, Page, Tx, get_store

KIND = "ERROR"
HEADER = keys.header_sk(KIND, newest_first=True)


def _by_project(tenant: str, project_id: int) -> str:
    return keys.tenant_index_pk(tenant, PROJECT_KIND, project_id, KIND)


def _by_severity(tenant: str, severity: str) -> str:
    return keys.tenant_index_pk(tenant, KIND, "severity", severity)


def error_sk(occurred: datetime, error_id: int) -> str:
    return f"{KIND}#{clock.iso_micro(occurred)}#{error_id:012d}"


def record(
    tx: Tx, project: dict[str, Any], fields: dict[str, Any], *, count_on_project: bool = True
) -> dict[str, Any]:
    """Add an error to a change being built (used by the API and by scans). A caller that updates
    the project item in the same change passes count_on_project=False and adds to `error_count`
    itself (a transaction may touch an item once)."""
    error_id = tx.new_id("error")
    occurred = fields.get("occurred_at") or tx.now
    sk = error_sk(occurred, error_id)
    retention = get_settings().error_retention_days * 86400
    public = {
        "id": error_id,
        "project_id": project["id"],
        "project_name": project["name"],
        "deployment_id": fields.get("deployment_id"),
        "error_type": fields["error_type"],
        "severity": fields["severity"],
        "message": fields["message"],
        "stack_trace": fields.get("stack_trace"),
        "context": fields.get("context") or {},
        "occurred_at": clock.iso(occurred),
    }
    tx.put(
        {
            "PK": tx.pk,
            "SK": sk,
            "GSI1PK": _by_project(tx.tenant, project["id"]),
            "GSI1SK": sk,
            "GSI2PK": _by_severity(tx.tenant, fields["severity"]),
            "GSI2SK": sk,
            "entity": "error",
            "expires_at": int(occurred.timestamp()) + retention,
            **public,
        },
        create_only=True,
    )
    if count_on_project:
        tx.update(
            tx.pk,
            keys.entity_sk(PROJECT_KIND, project["id"]),
            add={"error_count": 1},
            on_fail=NotFound.entity("Project", project["id"]),
        )
    tx.count(KIND, newest_first=True)
    tx.count(KIND, f"severity_{fields['severity']}", newest_first=True)
    events.error_logged(tx, public)
    return public


def log_error(tenant: str, request: ErrorCreate) -> ErrorRecord:
    project = get_project_item(tenant, request.project_id)
    fields = request.model_dump()
    return ErrorRecord.model_validate(get_store().commit(tenant, lambda tx: record(tx, project, fields)))


def list_errors(
    tenant: str,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    severity: str | None = None,
    project_id: int | None = None,
) -> tuple[list[ErrorRecord], Page, int]:
    store = get_store()
    pk = keys.tenant_pk(tenant)
    common: dict[str, Any] = {
        "sk_prefix": f"{KIND}#",
        "limit": limit,
        "offset": offset,
        "cursor": cursor,
        "newest_first": True,
    }
    if project_id is not None:
        project = get_project_item(tenant, project_id)  # another tenant's project is simply not found
        facet = _by_project(tenant, project_id)
        where = Filter(equals={"severity": severity}) if severity else None
        page = store.query_page(pk=facet, base_pk=pk, index="GSI1", where=where, **common)
        if where:
            total = store.count(pk=facet, index="GSI1", sk_prefix=f"{KIND}#", where=where)
        else:
            total = int(project.get("error_count", 0))
    elif severity is not None:
        page = store.query_page(pk=_by_severity(tenant, severity), base_pk=pk, index="GSI2", **common)
        total = int((store.get(pk, HEADER) or {}).get(f"severity_{severity}", 0))
    else:
        page = store.query_page(pk=pk, header_sk=HEADER, **common)
        total = page.total()
    return [ErrorRecord.model_validate(item) for item in page.items], page, total


def count_recent(tenant: str, hours: int = 24) -> int:
    since = clock.iso_micro(clock.now() - timedelta(hours=hours))
    return get_store().count(
        pk=keys.tenant_pk(tenant), sk_prefix=f"{KIND}#", sk_from=f"{KIND}#{since}", exclude_sk=HEADER
    )
