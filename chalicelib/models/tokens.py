from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.models.common import Out, Strict

Scope = Literal["read", "write", "deploy", "admin", "read:sensitive", "metrics"]


class TokenCreate(Strict):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[Scope] = Field(min_length=1)
    tenant: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Tenant of the new token (admin only); default: the caller's tenant",
    )
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    rate_limit_burst: int | None = Field(default=None, ge=1, le=100_000)


class TokenInfo(Out):
    id: int
    name: str
    tenant: str
    scopes: list[str]
    prefix: str
    created_at: str
    rate_limit_per_minute: int | None = None
    rate_limit_burst: int | None = None


class TokenIssued(TokenInfo):
    token: str = Field(description="The secret token; shown only in this response")
