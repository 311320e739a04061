"""Pieces shared by the four MCP servers: inputs, freshness, errors, transports."""
