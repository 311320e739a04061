"""The ClickHouse MCP server: analyses, trends, time series and segments from the read model."""
