"""Inbound calls that carry a shared secret, and the keys that make replays harmless.

`POST /api/v1/webhooks/{id}/trigger` authenticates with an `x-webhook-secret` header; a delivery
seen twice (same source, scope and delivery id) must act only once: the store records
`replay_key(...)` with a conditional put and ignores the call when the key already exists.
"""

from __future__ import annotations

import hashlib
import hmac

TRIGGER_SECRET_HEADER = "x-webhook-secret"
# How long the store should remember a delivery id (GitHub redelivers within days, not weeks).
REPLAY_WINDOW_SECONDS = 7 * 24 * 3600


def secrets_equal(expected: str, provided: str | None) -> bool:
    """Constant-time comparison that also hides the expected secret's length."""
    if provided is None or not expected:
        return False
    # Comparing digests keeps the time independent of where, and whether, the lengths differ.
    return hmac.compare_digest(_sha256(expected), _sha256(provided))


def replay_key(source: str, scope: str, delivery_id: str) -> str:
    """A stable, bounded key for one inbound delivery: `hookreplay:<source>:<sha256 hex>`.

    source names the kind of hook ("github", "trigger"), scope the object it targets (project or
    webhook id) and delivery_id the sender's id (X-GitHub-Delivery, webhook-id, Idempotency-Key).
    Hashing keeps keys short and free of separators whatever the sender put in its id.
    """
    for name, value in (("source", source), ("scope", scope), ("delivery_id", delivery_id)):
        if not value or not value.strip():
            raise ValueError(f"{name} must be a non-empty string")
    if not source.isidentifier():
        raise ValueError("source must be an identifier such as 'github'")
    digest = hashlib.sha256(f"{len(scope)}:{scope}:{delivery_id}".encode()).hexdigest()
    return f"hookreplay:{source}:{digest}"


def _sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()
