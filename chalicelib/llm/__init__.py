"""LLM access for natural-language MCP queries: an OpenAI-compatible client and budget accounting."""
