"""The experiment-intelligence MCP server: the agent graphs, exposed as tools."""
