"""Errors of MCP clients' OAuth: refusals in the RFC 6749 vocabulary, and missing objects."""

from __future__ import annotations

from core.errors import InvalidInput, NotFound, PermissionDenied


class OAuthRefused(InvalidInput):
    """The OAuth request was refused."""

    code = "oauth_refused"

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description, error=error)
        self.error = error  # the RFC's error code: invalid_request, invalid_grant, ...
        self.description = description


class McpClientNotFound(NotFound):
    """No such MCP client."""

    code = "mcp_client_not_found"


class AuthorizationNotFound(NotFound):
    """No such authorization request waiting for consent; it may have expired or been decided.
    Start again from the MCP client."""

    code = "mcp_authorization_not_found"


class ConsentNeedsSignIn(PermissionDenied):
    """Only a signed-in browser session can allow an MCP client, not an API token."""

    code = "consent_needs_sign_in"


class RedirectedRefusal(OAuthRefused):
    """The authorization request was refused; the client hears why at its redirect URI."""

    code = "oauth_redirected_refusal"

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None):
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state
