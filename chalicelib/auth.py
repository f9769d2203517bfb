"""Who is calling: API tokens (random, stored as a SHA-256 hash) and JWTs (HS256 secret or JWKS,
issuer and audience checked). Both resolve to a Principal bound to one tenant."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.config import get_settings
from chalicelib.errors import Forbidden, Unauthorized
from chalicelib.store import keys
from chalicelib.store.table import get_store

SCOPES = ("read", "write", "deploy", "admin", "read:sensitive", "metrics")
TOKEN_PREFIX = "borg_"
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Principal:
    tenant: str
    scopes: frozenset[str]
    subject: str  # "token:<id>" or "jwt:<sub>"
    token_id: int | None = None
    rate_limit_per_minute: int | None = None
    rate_limit_burst: int | None = None

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise Forbidden(f"This token lacks the '{scope}' scope", code="INSUFFICIENT_SCOPE")


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def bearer_from_header(header: str | None) -> str:
    if not header:
        raise Unauthorized()
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized()
    return credentials.strip()


def authenticate(raw_token: str) -> Principal:
    if raw_token.startswith(TOKEN_PREFIX):
        return _from_api_token(raw_token)
    if raw_token.count(".") == 2:
        return _from_jwt(raw_token)
    raise Unauthorized()


def _from_api_token(raw: str) -> Principal:
    item = get_store().get(keys.token_pk(hash_token(raw)), keys.TOKEN_SK)
    if not item:
        raise Unauthorized()
    return Principal(
        tenant=item["tenant"],
        scopes=frozenset(item["scopes"]),
        subject=f"token:{item['token_id']}",
        token_id=int(item["token_id"]),
        rate_limit_per_minute=item.get("rate_limit_per_minute"),
        rate_limit_burst=item.get("rate_limit_burst"),
    )


def _from_jwt(raw: str) -> Principal:
    settings = get_settings()
    if not (settings.jwt_hs256_secret or settings.jwt_jwks_url):
        raise Unauthorized()
    import jwt  # deferred: only JWT callers pay for it

    options: Any = {"require": ["exp", "sub"]}
    try:
        if settings.jwt_jwks_url:
            signing_key: Any = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(raw).key
            algorithms = ["RS256", "ES256"]
        else:
            signing_key, algorithms = settings.jwt_hs256_secret, ["HS256"]
        claims = jwt.decode(
            raw,
            signing_key,
            algorithms=algorithms,
            issuer=settings.jwt_issuer or None,
            audience=settings.jwt_audience or None,
            options=options,
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"Invalid token: {exc}") from exc
    tenant = claims.get(settings.jwt_tenant_claim) or claims["sub"]
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise Unauthorized("Invalid token: no valid tenant claim")
    raw_scopes = claims.get("scope", claims.get("scopes", "read"))
    scopes = raw_scopes.split() if isinstance(raw_scopes, str) else list(raw_scopes)
    return Principal(
        tenant=tenant,
        scopes=frozenset(s for s in scopes if s in SCOPES),
        subject=f"jwt:{claims['sub']}",
    )


_jwks_clients: dict[str, Any] = {}


def _jwks_client(url: str) -> Any:
    import jwt

    if url not in _jwks_clients:
        _jwks_clients[url] = jwt.PyJWKClient(url, cache_keys=True)
    return _jwks_clients[url]
