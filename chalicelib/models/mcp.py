from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from chalicelib.models.common import Out, Strict


class McpQuery(Strict):
    """`POST /api/v1/mcp/query`. With `tool` (and `query_type: "tool"`) that tool runs with
    `arguments`; otherwise `query` is a question for the configured LLM, which may call tools
    (the reference's example: `query_type: "tool"` with a question and no tool name)."""

    query_type: Literal["tool", "natural"] = "natural"
    query: str | None = Field(default=None, min_length=1, max_length=8000)
    tool: str | None = Field(default=None, min_length=1, max_length=64)
    arguments: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> McpQuery:
        if self.tool is not None and self.query_type != "tool":
            raise ValueError('tool: naming a tool needs query_type "tool"')
        if self.tool is None and self.query is None:
            raise ValueError('query: give a question, or a tool with query_type "tool"')
        if self.tool is None and self.arguments:
            raise ValueError("arguments: only a tool takes arguments")
        return self


class McpQueryReply(Out):
    result: Any
    tokens_used: int
    model: str | None
    tool: str | None = None


class McpToolInfo(Out):
    name: str
    description: str
    parameters: list[str]


class McpTools(Out):
    tools: list[McpToolInfo]
