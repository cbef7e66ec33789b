"""The MCP server: search, Q&A and files as tools for AI agents (HTTP at /mcp, stdio via `roset-local mcp`)."""
