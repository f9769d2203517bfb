"""Project and code search (docs/search.md). Other parts (the MCP tools) call these two."""

from __future__ import annotations

from chalicelib.search.code import search_code
from chalicelib.search.projects import search_projects

__all__ = ["search_code", "search_projects"]
