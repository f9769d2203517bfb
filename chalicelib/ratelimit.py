"""Shared rate limits (GCRA: a steady rate plus a burst), state in DynamoDB so every API instance
sees the same budget. One conditional update per request in the common case; a process-local hint
picks which of the two updates to try first."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from chalicelib import clock
from chalicelib.store import keys
from chalicelib.store.codec import encode, encode_item
from chalicelib.store.table import Store


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    """Theoretical arrival time (tat) per subject: a request is allowed when, after it, tat lies at
    most `burst` intervals ahead of now. From idle, `burst` requests pass at once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._busy_hint: dict[str, int] = {}

    def check(self, subject: str, per_minute: int, burst: int, now: float | None = None) -> Decision:
        # Integer microseconds keep the arithmetic exact however many requests accumulate.
        now_us = round((clock.epoch() if now is None else now) * 1_000_000)
        interval = round(60_000_000 / per_minute)
        tau = burst * interval
        pk = keys.rate_limit_pk(subject)
        busy = self._busy_hint.get(subject, 0) > now_us
        attempts = (self._advance, self._reset) if busy else (self._reset, self._advance)
        old_tat: int | None = None
        for attempt in attempts:
            ok, tat = attempt(pk, now_us, interval, tau)
            if ok:
                self._busy_hint[subject] = tat
                remaining = max(0, (tau - (tat - now_us)) // interval)
                return Decision(True, per_minute, remaining, math.ceil(tat / 1_000_000), 0)
            old_tat = tat if tat is not None else old_tat
        tat_now = old_tat if old_tat is not None else now_us
        self._busy_hint[subject] = tat_now
        retry_after = max(1, math.ceil((tat_now + interval - tau - now_us) / 1_000_000))
        return Decision(False, per_minute, 0, math.ceil(tat_now / 1_000_000), retry_after)

    def _update(self, pk: str, expression: str, condition: str, values: dict[str, Any]) -> tuple[bool, Any]:
        client = self._store.client
        try:
            response = client.update_item(
                TableName=self._store.table,
                Key=encode_item({"PK": pk, "SK": keys.RATE_LIMIT_SK}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues={k: encode(v) for k, v in values.items()},
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item", {}).get("tat", {}).get("N")
            return False, int(old) if old is not None else None
        return True, int(response["Attributes"]["tat"]["N"])

    def _reset(self, pk: str, now: int, interval: int, tau: int) -> tuple[bool, Any]:
        """Idle subject: tat restarts from now."""
        return self._update(
            pk,
            "SET tat = :tat, expires_at = :exp",
            "attribute_not_exists(tat) OR tat <= :now",
            {":tat": now + interval, ":now": now, ":exp": (now + tau) // 1_000_000 + 3600},
        )

    def _advance(self, pk: str, now: int, interval: int, tau: int) -> tuple[bool, Any]:
        """Busy subject: tat moves one interval, if that stays within the burst."""
        return self._update(
            pk,
            "SET tat = tat + :interval, expires_at = :exp",
            "tat > :now AND tat <= :ceiling",
            {
                ":interval": interval,
                ":now": now,
                ":ceiling": now + tau - interval,
                ":exp": (now + tau) // 1_000_000 + 3600,
            },
        )
