"""One webhook delivery attempt over HTTP, and the decision that follows it.

The queue is not here: the caller runs `deliver`, stores `result.record`, applies `result.decision`
(store the endpoint's failing_since, disable it, or enqueue the same message again for
`decision.retry_at` with attempt + 1).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from aws_lambda_powertools import Logger

from chalicelib.webhooks.errors import InvalidTargetError
from chalicelib.webhooks.models import DeliveryAttempt, WebhookEndpoint, WebhookMessage
from chalicelib.webhooks.retry import Action, Decision, decide, is_success, parse_retry_after
from chalicelib.webhooks.signing import signature_headers
from chalicelib.webhooks.targets import ResolvedTarget, Resolver, resolve_target, system_resolver

logger = Logger(service="borgos")

DEFAULT_TIMEOUT_SECONDS = 15.0  # Standard Webhooks recommends 15-30 s
RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "BorgOS-Webhooks/1.0"

_default_rng = random.Random()


@dataclass(frozen=True)
class AttemptResult:
    record: DeliveryAttempt
    decision: Decision

    @property
    def action(self) -> Action:
        return self.decision.action


@dataclass(frozen=True)
class _Exchange:
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: str | None = None


def make_client(*, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> httpx.Client:
    """A client fit for deliveries: no proxies from the environment (they would bypass address
    pinning), no redirects, a bounded timeout. Reuse one per worker process."""
    return httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout)


def deliver(
    endpoint: WebhookEndpoint,
    message: WebhookMessage,
    *,
    client: httpx.Client,
    attempt: int = 1,
    now: datetime | None = None,
    allow_private: bool = False,
    rng: random.Random | None = None,
    resolver: Resolver = system_resolver,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> AttemptResult:
    """Send attempt number `attempt` of message to endpoint and decide what comes next.

    Never raises for delivery problems (refused target, DNS, connection, timeout, bad status):
    they are recorded in the result. `now` is the attempt time (signature timestamp, decisions).
    """
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    if not endpoint.enabled:
        exchange = _Exchange(error="endpoint is disabled; nothing sent")
        decision = Decision(Action.GIVE_UP, "endpoint is disabled", failing_since=endpoint.failing_since)
    else:
        exchange = _attempt(endpoint, message, client, now, allow_private, resolver, timeout)
        decision = decide(
            attempt=attempt,
            status_code=exchange.status_code,
            now=now,
            failing_since=endpoint.failing_since,
            rng=rng or _default_rng,
            retry_after=parse_retry_after(exchange.retry_after, now),
        )
    record = DeliveryAttempt(
        message_id=message.id,
        endpoint_id=endpoint.id,
        event_type=message.type,
        attempt=attempt,
        attempted_at=now,
        url=endpoint.url,
        status_code=exchange.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        error=exchange.error,
        response_excerpt=exchange.excerpt,
        outcome=decision.action,
        next_attempt_at=decision.retry_at,
    )
    log = logger.info if decision.action is Action.SUCCESS else logger.warning
    log(
        "webhook attempt",
        extra={
            "endpoint_id": endpoint.id,
            "message_id": message.id,
            "event_type": message.type,
            "attempt": attempt,
            "status_code": exchange.status_code,
            "duration_ms": record.duration_ms,
            "outcome": decision.action.value,
            "reason": decision.reason,
            "error": exchange.error,
        },
    )
    return AttemptResult(record=record, decision=decision)


def _attempt(
    endpoint: WebhookEndpoint,
    message: WebhookMessage,
    client: httpx.Client,
    now: datetime,
    allow_private: bool,
    resolver: Resolver,
    timeout: float,
) -> _Exchange:
    try:
        resolved = resolve_target(endpoint.url, allow_private=allow_private, resolver=resolver)
    except InvalidTargetError as exc:
        return _Exchange(error=f"target refused: {exc}")
    body = message.body()
    headers = {
        **signature_headers(endpoint.secret, message.id, int(now.timestamp()), body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": resolved.host_header,
    }
    return _post(client, resolved, headers, body, timeout)


def _post(
    client: httpx.Client, resolved: ResolvedTarget, headers: dict[str, str], body: bytes, timeout: float
) -> _Exchange:
    extensions = {}
    if resolved.sni_hostname is not None:
        # Connect to the pinned address but present and verify the URL's name in TLS.
        extensions["sni_hostname"] = resolved.sni_hostname
        # Pooled connections are keyed by address, not by verified name: never reuse a TLS one.
        headers = {**headers, "connection": "close"}
    request = client.build_request(
        "POST", resolved.pinned_url, content=body, headers=headers, timeout=timeout, extensions=extensions
    )
    try:
        response = client.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        return _Exchange(error=f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return _Exchange(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    try:
        excerpt, read_error = _read_excerpt(response)
    finally:
        response.close()
    status = response.status_code
    error = read_error
    if error is None and not is_success(status):
        error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    return _Exchange(
        status_code=status, error=error, excerpt=excerpt, retry_after=response.headers.get("retry-after")
    )


def _read_excerpt(response: httpx.Response) -> tuple[str | None, str | None]:
    """The first RESPONSE_EXCERPT_BYTES of the body (the rest is never downloaded)."""
    collected = b""
    try:
        for chunk in response.iter_bytes():
            collected += chunk
            if len(collected) >= RESPONSE_EXCERPT_BYTES:
                break
    except httpx.HTTPError as exc:
        return _decode(collected), f"reading the response failed: {type(exc).__name__}"
    return _decode(collected), None


def _decode(raw: bytes) -> str | None:
    return raw[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace") if raw else None
