"""Admission: who is calling, within their rate. Shared by the REST routes, `/mcp` and the WebSocket
`$connect`, so every way in authenticates and limits alike.

A caller with a valid token is limited per token (its own limits, or the stage's). A failed attempt
(no token, a malformed or unknown one) is limited per source address, so guessing tokens is slow on
every entry point."""

from __future__ import annotations

from chalicelib.auth import Principal, authenticate
from chalicelib.config import get_settings
from chalicelib.errors import RateLimited, Unauthorized
from chalicelib.ratelimit import RateLimiter
from chalicelib.store.table import get_store

_limiter: RateLimiter | None = None


def _rate_limiter() -> RateLimiter:
    global _limiter
    if _limiter is None or _limiter._store is not get_store():
        _limiter = RateLimiter(get_store())
    return _limiter


def admit(token: str | None, source_ip: str | None) -> tuple[Principal, dict[str, str]]:
    """The caller and the rate-limit headers to send back; raises Unauthorized or RateLimited."""
    settings = get_settings()
    limiter = _rate_limiter()
    try:
        if not token:
            raise Unauthorized()
        principal = authenticate(token)
    except Unauthorized:
        decision = limiter.check(
            f"ip:{source_ip or 'unknown'}", settings.rate_limit_per_minute, settings.rate_limit_burst
        )
        if not decision.allowed:
            raise RateLimited("Rate limit exceeded", headers=decision.headers()) from None
        raise
    decision = limiter.check(
        principal.subject + f"@{principal.tenant}",
        principal.rate_limit_per_minute or settings.rate_limit_per_minute,
        principal.rate_limit_burst or settings.rate_limit_burst,
    )
    if not decision.allowed:
        raise RateLimited("Rate limit exceeded; retry later", headers=decision.headers())
    return principal, decision.headers()
