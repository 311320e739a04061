"""Natural-language analytics: parse a question, route it to MCP tools, answer with numbers."""
