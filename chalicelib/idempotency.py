"""Idempotency keys: a POST sent again with the same `Idempotency-Key` is answered once.

One record per tenant and key (keys.idempotency_sk) holds the request's fingerprint and either a
lease (`in_progress`: the first request is running) or the answer it gave (`done`). A request claims
the key with one conditional PutItem; when the claim is refused, DynamoDB hands back the record in
the way (ReturnValuesOnConditionCheckFailure), which says whether to replay the answer, refuse a
key reused for another request, or report that the first is still running. A request that dies
half way leaves a lease that runs out, after which a retry of the same request takes the key over.

This module stores plain answers (status, body text, headers); the route layer decides what an
answer is and calls `claim` before the view and `settle` after it."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from chalicelib import clock
from chalicelib.errors import IdempotencyInProgress, IdempotencyKeyReused, ValidationFailed
from chalicelib.logs import logger
from chalicelib.store import keys
from chalicelib.store.table import get_store

HEADER = "Idempotency-Key"
# Longer than any request may run (API Gateway gives up after 29 s), so a live request keeps its key.
LEASE_SECONDS = 60
RETENTION_SECONDS = 24 * 3600
# A DynamoDB item holds 400 KB; a larger answer is not kept (its key is released instead).
MAX_STORED_BODY_BYTES = 300 * 1024
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")

IN_PROGRESS, DONE = "in_progress", "done"
_CLAIM_CONDITION = (
    "attribute_not_exists(PK) OR #expires < :now OR (#state = :in_progress AND #lease < :now AND #fp = :fp)"
)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    headers: dict[str, str | list[str]]


@dataclass(frozen=True)
class Claim:
    """The right to run a request under a key; `owner` tells this claim from a later takeover."""

    tenant: str
    key: str
    owner: str
    expires_at: int
    fingerprint: str


def validate_key(key: str) -> str:
    if not _VALID_KEY.fullmatch(key):
        raise ValidationFailed.field(HEADER, "must be 1-255 printable ASCII characters")
    return key


def fingerprint(method: str, target: str, body: bytes) -> str:
    """What makes two requests the same: method, path with its query, and the exact body bytes."""
    digest = hashlib.sha256(f"{method}\n{target}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def claim(tenant: str, key: str, request_fingerprint: str) -> Claim | StoredResponse:
    """Claim `key` for a request, or return the answer its first use gave.

    Raises IdempotencyKeyReused when the key was used for another request and
    IdempotencyInProgress while the first use still holds its lease."""
    store = get_store()
    for _ in range(3):
        now = int(clock.epoch())
        mine = Claim(tenant, key, uuid.uuid4().hex, now + RETENTION_SECONDS, request_fingerprint)
        item = _record(mine, state=IN_PROGRESS, lease_until=now + LEASE_SECONDS)
        existing = store.put_unless(
            item,
            _CLAIM_CONDITION,
            {"#expires": "expires_at", "#state": "state", "#lease": "lease_until", "#fp": "fingerprint"},
            {":now": now, ":in_progress": IN_PROGRESS, ":fp": request_fingerprint},
        )
        if existing is None:
            return mine
        if not existing:
            continue  # the record went away between the refusal and its read: claim again
        if existing.get("fingerprint") != request_fingerprint:
            raise IdempotencyKeyReused(f"{HEADER} {key!r} was already used for a different request")
        if existing.get("state") != DONE:
            raise IdempotencyInProgress(f"A request with {HEADER} {key!r} is still being processed")
        return StoredResponse(int(existing["status"]), existing["body"], existing.get("headers") or {})
    raise IdempotencyInProgress(f"A request with {HEADER} {key!r} is still being processed")


def settle(held: Claim, response: StoredResponse) -> None:
    """Keep the answer for replay, or give the key back so that a retry runs again: server errors
    (5xx) are worth retrying, and an answer too large for an item cannot be kept."""
    if response.status >= 500 or len(response.body.encode()) > MAX_STORED_BODY_BYTES:
        release(held)
        return
    item = _record(held, state=DONE)
    item.update(status=response.status, body=response.body, headers=response.headers)
    refused = get_store().put_unless(item, "#owner = :owner", {"#owner": "owner"}, {":owner": held.owner})
    if refused is not None:
        # Our lease ran out and a retry took the key over: its answer is the one to keep.
        logger.warning("idempotency claim lost before its answer was stored", extra={"tenant": held.tenant})


def release(held: Claim) -> None:
    """Forget the claim (only ours: a retry that took an expired lease over keeps its own)."""
    get_store().delete(
        keys.tenant_pk(held.tenant),
        keys.idempotency_sk(held.key),
        condition="#owner = :owner",
        names={"#owner": "owner"},
        values={":owner": held.owner},
    )


def _record(held: Claim, *, state: str, lease_until: int | None = None) -> dict[str, object]:
    item: dict[str, object] = {
        "PK": keys.tenant_pk(held.tenant),
        "SK": keys.idempotency_sk(held.key),
        "entity": "idempotency",
        "tenant": held.tenant,
        "fingerprint": held.fingerprint,
        "state": state,
        "owner": held.owner,
        "expires_at": held.expires_at,
    }
    if lease_until is not None:
        item["lease_until"] = lease_until
    return item
