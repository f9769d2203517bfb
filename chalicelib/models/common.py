"""Models shared by every endpoint: list parameters and the error envelope."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_PAGE = 500


class Model(BaseModel):
    """Every model's root: schemas are built on first use, not at import (Lambda cold start)."""

    model_config = ConfigDict(defer_build=True)


class Strict(Model):
    """Request models refuse unknown fields: a typo must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Out(Model):
    pass


class ListQuery(Strict):
    limit: int | None = Field(default=None, ge=1, le=MAX_PAGE, description="Page size (max 500)")
    offset: int | None = Field(default=None, ge=0, le=100_000, description="Items to skip")
    cursor: str | None = Field(default=None, min_length=1, max_length=2048, description="Opaque cursor")

    @property
    def wants_envelope(self) -> bool:
        return self.limit is not None or self.offset is not None or self.cursor is not None


class Pagination(Out):
    total: int
    limit: int
    offset: int
    has_more: bool
    next_cursor: str | None = None


class ErrorDetail(Out):
    field: str
    problem: str


class ErrorBody(Out):
    error: str
    message: str
    code: str
    request_id: str
    details: list[ErrorDetail] | None = None


class Message(Out):
    message: str


def message(text: str, **extra: Any) -> dict[str, Any]:
    return {"message": text, **extra}
