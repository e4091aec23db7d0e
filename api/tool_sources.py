"""The app's toolkits, wired with what they need from packages they may not import."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import public_url
from assistant.assistants import tool_secrets
from assistant.chat import search
from core.settings import Settings
from knowledge.library_source import LibrarySource
from knowledge.vector_store import VectorStore
from toolkits.builtins import builtin_toolkits
from toolkits.calls import Limits
from toolkits.crypto import Sealer, load_key
from toolkits.mcp_client import McpConnector
from toolkits.registry import Toolkits
from toolkits.ssrf import AddressPolicy
from toolkits.stdio_pool import StdioPool
from toolkits.web_search import from_settings as web_search


def build_toolkits(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], store: VectorStore | None = None
) -> Toolkits:
    """The app's toolkits: limits and allowed hosts from settings, credentials key, built-ins
    (web search when SWITCHBOARD_WEB_SEARCH_URL names a SearXNG instance)."""
    limits = Limits(
        call_timeout_seconds=settings.tool_call_timeout_seconds,
        result_max_chars=settings.tool_result_max_chars,
        max_calls_per_turn=settings.tool_max_calls_per_turn,
    )
    policy = AddressPolicy.from_setting(settings.toolkit_allowed_hosts)
    key = load_key(settings.toolkit_secret_key.get_secret_value(), settings.data_dir)
    stdio = StdioPool(
        max_sessions=settings.toolkit_stdio_max_sessions,
        idle_seconds=settings.toolkit_stdio_idle_seconds,
    )
    web = web_search(
        settings.web_search_url,
        results=settings.web_search_results,
        timeout_seconds=settings.web_search_timeout_seconds,
        policy=policy,
    )
    base = public_url.listening_url(settings)  # registered with servers: outlives any request
    return Toolkits(
        sessions=sessions,
        connector=McpConnector(policy, limits, stdio),
        callback_url=base + "/api/toolkits/oauth/callback",
        refresh_seconds=settings.toolkit_refresh_seconds,
        sealer=Sealer(key),
        secrets=tool_secrets.AssistantSecrets(
            sessions, settings.data_dir, settings.secrets_key.get_secret_value()
        ),
        builtins=(
            *builtin_toolkits(
                search.ChatSearchSource(sessions),
                knowledge=LibrarySource(sessions, store) if store is not None else None,
            ),
            web,
        ),
    )
