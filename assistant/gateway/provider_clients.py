"""LiteLLM's clients to providers keep no cookies: one caller's never go with another's call.

LiteLLM keeps its clients and reuses them for every call, so a cookie a provider set on one
caller's answer (a session or a Cloudflare cookie) would go out with every later caller's call to
that host. Its own clients (Anthropic, Gemini, Ollama...) already keep none; the OpenAI SDK clients
it builds for OpenAI-format and Azure deployments wrap httpx clients that do. For those it takes
the process's `litellm.aclient_session` / `litellm.client_session` when they are set (its hook
for a custom client): these are set to the clients LiteLLM would build itself (its transport, TLS
and proxy settings, one connection pool), refusing every cookie.
"""

from __future__ import annotations

import http.cookiejar
import urllib.request
from types import ModuleType


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A cookie policy that keeps no cookie a response sets, and so sends none."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


def refuse_cookies(litellm: ModuleType) -> None:
    """Make the clients LiteLLM's OpenAI SDK clients wrap refuse cookies: call it once LiteLLM's
    settings are applied and before its first call (it wraps them as it builds each SDK client).
    Clients set already (by an earlier gateway of this process) are kept, refusing cookies too,
    so every call shares one connection pool and nothing is built per call.
    """
    built = litellm.llms.openai.common_utils.BaseOpenAILLM  # LiteLLM's own client builders
    hooks = {
        "aclient_session": built.get_async_http_client,
        "client_session": built.get_sync_http_client,
    }
    for hook, build in hooks.items():
        client = getattr(litellm, hook) or build()
        client.cookies.jar.set_policy(NoCookies())
        client.cookies.clear()
        setattr(litellm, hook, client)
