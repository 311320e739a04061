"""The PostgreSQL MCP server: experiment configuration, assignment and history."""
