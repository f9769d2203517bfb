"""A tenant's projects, read whole (search needs all of them; a tenant has hundreds, not millions)."""

from __future__ import annotations

from typing import Any

from chalicelib.store import keys
from chalicelib.store.table import get_store

PAGE = 500


def all_projects(tenant: str) -> list[dict[str, Any]]:
    store = get_store()
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = store.query_page(pk=keys.tenant_pk(tenant), sk_prefix="PROJECT#", limit=PAGE, cursor=cursor)
        items.extend(item for item in page.items if item.get("entity") == "project")
        if not page.next_cursor:
            return items
        cursor = page.next_cursor
