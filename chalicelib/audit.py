"""The audit trail: who did what through the agent surfaces (MCP tool calls, agent tasks, Agent Zero
actions), with secrets removed from arguments and results. Newest first, kept for
`audit_retention_days`, listed by `GET /api/v1/audit`.

`add(tx, ...)` records inside a change being built (the audit entry commits with the change it
describes); `record(...)` commits an entry on its own (a tool call, a refused request)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python

from chalicelib import clock
from chalicelib.config import get_settings
from chalicelib.mcp.scrub import scrub
from chalicelib.store import keys
from chalicelib.store.table import Filter, Page, Tx, get_store

KIND = "AUDIT"
HEADER = keys.header_sk(KIND, newest_first=True)
MAX_RESULT_CHARS = 4000  # larger results are kept as a truncated JSON excerpt


def _by_action(tenant: str, action: str) -> str:
    return keys.tenant_index_pk(tenant, KIND, action)


def _summarise(value: Any) -> Any:
    """Secret-free and bounded: the audit log must neither leak nor grow with tool output."""
    clean = scrub(to_jsonable_python(value, fallback=str))
    text = json.dumps(clean, default=str)
    if len(text) <= MAX_RESULT_CHARS:
        return clean
    return {"truncated": True, "excerpt": text[:MAX_RESULT_CHARS]}


def add(
    tx: Tx,
    *,
    actor: str,
    action: str,
    arguments: Any,
    result: Any,
    outcome: str = "ok",
    token_id: int | str | None = None,
) -> dict[str, Any]:
    """Add an audit entry to a change being built."""
    audit_id = tx.new_id("audit")
    sk = f"{KIND}#{clock.iso_micro(tx.now)}#{audit_id:012d}"
    entry = {
        "id": audit_id,
        "actor": actor,
        "token_id": token_id,
        "action": action,
        "arguments": _summarise(arguments),
        "result": _summarise(result),
        "outcome": outcome,
        "at": clock.iso(tx.now),
    }
    tx.put(
        {
            "PK": tx.pk,
            "SK": sk,
            "GSI1PK": _by_action(tx.tenant, action),
            "GSI1SK": sk,
            "entity": "audit",
            "expires_at": int(tx.now.timestamp()) + get_settings().audit_retention_days * 86400,
            **entry,
        },
        create_only=True,
    )
    tx.count(KIND, newest_first=True)
    return entry


def record(
    tenant: str,
    actor: str,
    action: str,
    arguments: Any,
    result: Any,
    *,
    outcome: str = "ok",
    token_id: int | str | None = None,
) -> dict[str, Any]:
    """Commit one audit entry on its own."""
    return get_store().commit(
        tenant,
        lambda tx: add(
            tx,
            actor=actor,
            action=action,
            arguments=arguments,
            result=result,
            outcome=outcome,
            token_id=token_id,
        ),
    )


def list_entries(
    tenant: str,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> tuple[list[dict[str, Any]], Page, int]:
    """One page of the trail, newest first, and the total matching the filters."""
    store = get_store()
    pk = keys.tenant_pk(tenant)
    sk_from = f"{KIND}#{clock.iso_micro(since)}" if since else None
    common: dict[str, Any] = {
        "sk_prefix": f"{KIND}#",
        "limit": limit,
        "offset": offset,
        "cursor": cursor,
        "newest_first": True,
        "sk_from": sk_from,
    }
    if action:
        index_pk = _by_action(tenant, action)
        page = store.query_page(pk=index_pk, base_pk=pk, index="GSI1", **common)
        total = store.count(pk=index_pk, index="GSI1", sk_prefix=f"{KIND}#", sk_from=sk_from)
    elif since:
        # The header (`AUDIT#~`) sorts inside any "since" range: keep only entries.
        page = store.query_page(pk=pk, where=Filter(equals={"entity": "audit"}), **common)
        total = store.count(pk=pk, sk_prefix=f"{KIND}#", sk_from=sk_from, exclude_sk=HEADER)
    else:
        page = store.query_page(pk=pk, header_sk=HEADER, **common)
        total = page.total()
    return [public(item) for item in page.items], page, total


def public(item: dict[str, Any]) -> dict[str, Any]:
    return {
        name: item.get(name)
        for name in ("id", "at", "actor", "token_id", "action", "arguments", "result", "outcome")
    }


def actor_of(principal: Any) -> str:
    """`token:<id>` or `jwt:<sub>`: the Principal's subject."""
    return str(getattr(principal, "subject", None) or "unknown")
