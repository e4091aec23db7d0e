"""Errors of toolkits, their tools and the connections to external MCP servers."""

from __future__ import annotations

from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
    Unavailable,
)


class ToolkitNotFound(NotFound):
    """No such toolkit."""

    code = "toolkit_not_found"


class ToolNotFound(NotFound):
    """No such tool in this toolkit."""

    code = "tool_not_found"


class UnsafeUrl(InvalidInput):
    """That URL points at an address Switchboard does not connect to (private or local)."""

    code = "unsafe_url"


class InvalidToolkit(InvalidInput):
    """The toolkit's settings are not valid."""

    code = "invalid_toolkit"


class ConfigNotUnderstood(InvalidInput):
    """That config is not an MCP server config Switchboard can read."""

    code = "config_not_understood"


class StdioNeedsAdmin(PermissionDenied):
    """Only admins can add toolkits that run a command on the server."""

    code = "stdio_needs_admin"


class ToolkitReadOnly(PermissionDenied):
    """Only the toolkit's owner or an admin can change it; built-in toolkits cannot be changed."""

    code = "toolkit_read_only"


class DefinitionChanged(Conflict):
    """The tool's definition changed since it was approved; an editor must approve it again."""

    code = "tool_definition_changed"


class SecretMissing(InvalidInput):
    """A header of this toolkit takes an assistant secret that is not available here."""

    code = "toolkit_secret_missing"


class SignInStateInvalid(InvalidInput):
    """That sign-in is not one of yours, expired or was already used; start a new one."""

    code = "sign_in_state_invalid"


class InvalidTool(InvalidInput):
    """That tool's definition is not valid."""

    code = "invalid_tool"


class ToolArgumentsInvalid(InvalidInput):
    """The call's arguments do not fit the tool's parameters."""

    code = "tool_arguments_invalid"


class ToolkitNotCustom(Conflict):
    """Only a custom toolkit takes tools written by hand; an MCP toolkit's come from its server."""

    code = "toolkit_not_custom"


class OpenApiInvalid(InvalidInput):
    """That is not an OpenAPI 3 document Switchboard can turn into tools."""

    code = "openapi_invalid"


class OpenApiTooLarge(TooLarge):
    """That OpenAPI document is larger than Switchboard imports."""

    code = "openapi_too_large"


class ToolkitUnavailable(Conflict):
    """That built-in toolkit is not available on this server."""

    code = "toolkit_unavailable"


class WebSearchFailed(Unavailable):
    """The web search service did not give results; try again later."""

    code = "web_search_failed"
