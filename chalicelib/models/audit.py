from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from chalicelib.models.common import ListQuery, Out


class AuditQuery(ListQuery):
    action: str | None = Field(default=None, min_length=1, max_length=64, description="e.g. mcp.tool_call")
    since: datetime | None = Field(default=None, description="Entries at or after this time (RFC 3339)")


class AuditEntry(Out):
    id: int
    at: str
    actor: str
    token_id: int | str | None = None
    action: str
    arguments: Any = None
    result: Any = None
    outcome: str
