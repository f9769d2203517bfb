"""API token management: issue (shown once), list, revoke. A token lives twice: under its hash for
authentication and under its tenant for listing; both commit in one transaction."""

from __future__ import annotations

import secrets
from typing import Any

from chalicelib import clock
from chalicelib.auth import TOKEN_PREFIX, hash_token
from chalicelib.errors import NotFound
from chalicelib.models.tokens import TokenCreate, TokenInfo, TokenIssued
from chalicelib.store import keys
from chalicelib.store.table import Page, Tx, get_store

KIND = "TOKEN"


def _info(item: dict[str, Any]) -> TokenInfo:
    return TokenInfo.model_validate(item)


def issue_token(tenant: str, request: TokenCreate) -> TokenIssued:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hash_token(raw)

    def build(tx: Tx) -> TokenIssued:
        token_id = tx.new_id("token")
        record = {
            "token_id": token_id,
            "id": token_id,
            "tenant": tenant,
            "name": request.name,
            "scopes": sorted(request.scopes),
            "prefix": raw[: len(TOKEN_PREFIX) + 6],
            "created_at": clock.iso(tx.now),
            "rate_limit_per_minute": request.rate_limit_per_minute,
            "rate_limit_burst": request.rate_limit_burst,
        }
        tx.put(
            {"PK": keys.token_pk(digest), "SK": keys.TOKEN_SK, "entity": "token", **record}, create_only=True
        )
        tx.put(
            {"PK": tx.pk, "SK": keys.entity_sk(KIND, token_id), "entity": "token", "hash": digest, **record},
            create_only=True,
        )
        tx.count(KIND)
        return TokenIssued(**_info(record).model_dump(), token=raw)

    return get_store().commit(tenant, build)


def list_tokens(tenant: str, *, limit: int, offset: int, cursor: str | None) -> tuple[list[TokenInfo], Page]:
    page = get_store().query_page(
        pk=keys.tenant_pk(tenant),
        sk_prefix=f"{KIND}#",
        header_sk=keys.header_sk(KIND),
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return [_info(item) for item in page.items], page


def revoke_token(tenant: str, token_id: int) -> None:
    store = get_store()
    item = store.get(keys.tenant_pk(tenant), keys.entity_sk(KIND, token_id))
    if not item:
        raise NotFound.entity("Token", token_id)
    missing = NotFound.entity("Token", token_id)

    def build(tx: Tx) -> None:
        tx.delete(tx.pk, keys.entity_sk(KIND, token_id), on_fail=missing)
        tx.delete(keys.token_pk(item["hash"]), keys.TOKEN_SK, on_fail=missing)
        tx.count(KIND, delta=-1)

    store.commit(tenant, build)


BOOTSTRAP_TENANT = "local"


def bootstrap_admin_token(existing: str | None) -> str:
    """The admin token `make dev` prints: the previous one while it still works, else a new one."""
    from chalicelib.auth import authenticate
    from chalicelib.errors import Unauthorized

    if existing:
        try:
            if authenticate(existing).has("admin"):
                return existing
        except Unauthorized:
            pass
    issued = issue_token(BOOTSTRAP_TENANT, TokenCreate(name="local-admin", scopes=["admin"]))
    return issued.token
