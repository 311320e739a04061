"""The router (the seed's MCP Router): classify a request and send it where it belongs."""
