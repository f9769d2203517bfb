from __future__ import annotations

from pydantic import Field

from chalicelib.models.common import Out, Strict


class ProjectSearchQuery(Strict):
    query: str = Field(min_length=1, max_length=500, description="Search query")
    limit: int = Field(default=10, ge=1, le=100, description="Maximum results (default: 10)")


class CodeSearchQuery(Strict):
    query: str = Field(min_length=1, max_length=500, description="Search query")
    project_id: int | None = Field(default=None, ge=1, description="Limit to specific project")
    limit: int = Field(default=20, ge=1, le=200, description="Maximum results (default: 20)")


class ProjectHit(Out):
    id: int
    name: str
    path: str
    relevance_score: float
    tech_stack: list[str]


class CodeHit(Out):
    file: str
    line: int
    content: str
    relevance_score: float


class ZenithSync(Out):
    message: str
    count: int
