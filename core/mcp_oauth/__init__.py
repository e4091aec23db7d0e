"""Switchboard as the OAuth 2.1 authorization server for /mcp: clients, consents, grants, tokens."""
