"""Tool registry, external MCP servers as toolkits, built-in toolkits."""
