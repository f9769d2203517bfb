"""MCP for BorgOS: the tool registry (no SDK import), the SDK-based server and the ASGI bridge."""
