"""Warming the model gateway up off the event loop, so a first answer does not wait seconds.

A warm-up reads the tiktoken tables of the catalog's models (0.3-1.2 s of CPU and ~28-48 MB each:
the chat turn counts tokens on the event loop). When a chat model of the catalog needs LiteLLM
(one that is not called directly: `Gateway.direct`, e.g. a provider not in OpenAI's format,
several deployments to balance, a `mock_response` that plays an error; make run's `demo` is
answered by `mock_answers`, without LiteLLM), it also imports LiteLLM, builds its router
and rehearses one routing and one completion that LiteLLM answers itself (a process's first ones
import ~300 more of its modules): ~3.5 s of CPU and ~185 MB resident more. When it runs is a
setting (`SWITCHBOARD_WARM_START`): at start-up, at the first signed-in request (a person who
opens the page types for seconds before sending), or never.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

from core import heap, tokens

if TYPE_CHECKING:
    from assistant.gateway.router import Gateway

log = logging.getLogger(__name__)
warming = threading.Event()  # a warm-up is under way
warmed = threading.Event()  # a warm-up finished


def start(gateway: Gateway, reason: str) -> None:
    """Warm `gateway` up in a background thread now."""
    log.info("warming up the model gateway (%s)", reason)
    warming.set()
    threading.Thread(target=_warm, args=(gateway,), name="gateway warm-up", daemon=True).start()


def _warm(gateway: Gateway) -> None:
    try:
        model_list = gateway.catalog.router_model_list()
        names = _names(model_list)
        for name in names:
            tokens.encoding_for(name)  # tiktoken reads its table on first use
        if needing := needing_litellm(gateway, names):
            log.info("the model gateway loads LiteLLM: %s needs it", ", ".join(needing))
            router = gateway.router  # imports LiteLLM and builds the router
            # rehearsed on a throwaway router on a loop of its own: nothing is kept
            asyncio.run(_rehearse(type(router)(model_list=model_list), needing[0]))
        tokens.compact_tables()  # a rehearsal loads tiktoken tables of LiteLLM's own
        heap.return_free_memory()  # what the import and rehearsal freed goes back to the OS
        warmed.set()
    except Exception:
        log.exception("warming up the model gateway failed; the first model call will retry")
    finally:
        warming.clear()


def needing_litellm(gateway: Gateway, names: list[str] | None = None) -> list[str]:
    """The usable chat models of the gateway's catalog that a call reaches through LiteLLM
    (`names`: the catalog's usable model names, when the caller has them)."""
    catalog = gateway.catalog
    if names is None:
        names = _names(catalog.router_model_list())
    models = [catalog.models[n] for n in names if n in catalog.models]
    return [m.name for m in models if m.mode == "chat" and gateway.direct(m) is None]


def _names(model_list: list[dict[str, Any]]) -> list[str]:
    """The model names of a router model list, each once, sorted."""
    return sorted({str(entry["model_name"]) for entry in model_list})


async def _rehearse(router: Any, model: str) -> None:  # LiteLLM's Router (only router.py names it)
    """One routing and one completion, answered by LiteLLM itself (`mock_response`): nothing is
    sent to a provider, logged (`no-log`) or billed."""
    await router.async_get_available_deployment(model=model, request_kwargs={})
    messages = [{"role": "user", "content": "Hi"}]
    options: dict[str, Any] = {"mock_response": "Hi", "stream": True, "no-log": True}
    async for _ in await router.acompletion(model=model, messages=messages, **options):
        pass
