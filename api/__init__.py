"""HTTP edge: the FastAPI app, HAL JSON, SSE, auth, routes, the MCP mount and the CLI."""
