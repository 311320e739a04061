"""The ChromaDB MCP server: semantic search over the experiment knowledge base."""
