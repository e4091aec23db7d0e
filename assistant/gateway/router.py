"""The model gateway: the one module that imports LiteLLM, and only when a call needs it.

LiteLLM's Router picks the deployment, load-balances, retries and falls back; this module turns its
stream into plain `Chunk`s and its exceptions into domain errors. A model whose one deployment
speaks OpenAI's format, with nothing for the router to decide (`picks.only_choice`), is called
directly without importing LiteLLM, until a call fails and takes LiteLLM's path; one whose
deployment has a fixed answer (`mock_response`) gets it from `mock_answers`, as LiteLLM gives it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from assistant.errors import ProviderError, ProviderRejected
from assistant.gateway import warm
from assistant.gateway.chunks import Chunk, without_nulls
from assistant.gateway.failures import domain_error, probe_failure, retries_granted
from assistant.gateway.litellm_stream import LAZY_STREAMS, chunks_of, opened
from assistant.gateway.mock_answers import MockAnswer
from assistant.gateway.picks import OnlyChoices, Picks
from assistant.gateway.provider_clients import refuse_cookies
from assistant.gateway.relay import Relay, Target, target_of
from assistant.gateway.vectors import Embedded, Inputs, LocalEmbeddings, in_batches, vectors_of
from core import heap
from core.catalog import LOCAL_PROVIDER, Catalog, CatalogModel
from core.environment import prepare_offline
from core.provider_hosts import ProviderHosts, api_base_of

if TYPE_CHECKING:
    from litellm import Router

log = logging.getLogger(__name__)
_loaded: ModuleType | None = None
_loading = threading.Lock()


def _litellm() -> ModuleType:
    """LiteLLM, imported by the warm start (Gateway.warm_up) or else on first use: ~150 MB and
    seconds of CPU (bench/README.md, First answer)."""
    global _loaded
    with _loading:
        if _loaded is None:
            prepare_offline()  # its environment must be set before the import
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            litellm.turn_off_message_logging = True
            _loaded = litellm
            heap.freeze_long_lived()  # ~400k objects that live as long as the process
    return _loaded


def state() -> int:
    """The gateway in this process: 0 cold, 1 warming up (or importing LiteLLM for a first
    call), 2 warm (warmed up, or LiteLLM loaded)."""
    if warm.warming.is_set() or (_loaded is None and _loading.locked()):
        return 1
    return 2 if warm.warmed.is_set() or _loaded is not None else 0


def litellm_loaded() -> bool:
    """Whether LiteLLM is imported in this process (by the gateway, or by anything else)."""
    return "litellm" in sys.modules


def litellm_module() -> ModuleType:
    """LiteLLM, for the gateway's modules that read its tables (blocks on the first import)."""
    return _litellm()


class Gateway:
    """Calls models by catalog name through LiteLLM's Router (built on first use)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        fast_path: bool = True,
        hosts: ProviderHosts | None = None,
        local: LocalEmbeddings | None = None,
    ) -> None:
        self.catalog = catalog
        self.local = local  # the sentence-transformers models this process runs itself
        self.fast_path = fast_path
        self.hosts = hosts or ProviderHosts()  # no call reaches a link-local/metadata address
        self.relay = Relay()
        self.picks = Picks()  # LiteLLM's choice, kept where it cannot differ
        self.only_choices = OnlyChoices(catalog, target_of)  # where LiteLLM has no choice
        self._model_list = catalog.router_model_list()
        self._router: Router | None = None
        self._building = threading.Lock()
        self._warm_asked = False

    @property
    def router(self) -> Router:
        """LiteLLM's router over the catalog's deployments (importing LiteLLM the first time)."""
        router = self._router
        return router if router is not None else self._built()

    def _built(self) -> Router:
        """The router, built once (blocking); one built from a catalog reloaded meanwhile serves
        its caller but is not kept."""
        with self._building:
            if (router := self._router) is None:
                litellm, model_list = _litellm(), self._model_list
                for key, value in self.catalog.litellm_settings.items():
                    setattr(litellm, key, value)
                refuse_cookies(litellm)  # its settings may shape the clients it builds
                router = litellm.Router(model_list=model_list, **dict(self.catalog.router_settings))
                if model_list is self._model_list:
                    self._router = router
            return router

    async def ready(self) -> Router:
        """The router, with LiteLLM imported and the router built off the event loop the first
        time."""
        router = self._router
        return router if router is not None else await asyncio.to_thread(self._built)

    def warm_up(self, reason: str = "start-up") -> None:
        """Load the tiktoken tables (and LiteLLM with its router, when a model needs them) in a
        background thread now, so the first model call does not wait seconds for them
        (bench/first_token.py); once per gateway."""
        if not self._warm_asked:
            self._warm_asked = True
            warm.start(self, reason)

    def direct(self, model: CatalogModel) -> Target | MockAnswer | None:
        """Where to call `model` without LiteLLM: its one OpenAI-format deployment (or its fixed
        answer), when the router has nothing to decide for it; None when a call needs LiteLLM."""
        return self.only_choices.of(model)[1] if self.fast_path else None

    def reload(self) -> None:
        """Rebuild LiteLLM's router after the catalog changed (not when only access changed);
        calls under way finish on the router they started with."""
        self.only_choices.clear()
        model_list = self.catalog.router_model_list()
        if model_list != self._model_list:
            self._model_list = model_list
            self._router = None
            if self._warm_asked and _loaded is None and warm.needing_litellm(self):
                warm.start(self, "a model that needs LiteLLM was added")

    async def probe(
        self, litellm_params: Mapping[str, Any], *, timeout: float = 20.0
    ) -> str | None:
        """One cheap call (max_tokens 1) with these parameters, outside the router.

        Returns None when the provider answered, else why not, in plain words.

        Raises:
            ProviderAddressBlocked: the provider points at a link-local or metadata address.
        """
        base = api_base_of(litellm_params)
        if base:
            await self.hosts.check(base)
        try:
            await self.ready()
            await _litellm().acompletion(
                **litellm_params,
                messages=[{"role": "user", "content": "Reply with OK."}],
                max_tokens=1,
                timeout=timeout,
                num_retries=0,
                max_retries=0,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return probe_failure(exc, litellm_params, _litellm())
        return None

    async def stream(
        self,
        *,
        model: CatalogModel,
        messages: Sequence[Mapping[str, Any]],
        max_tokens: int,
        temperature: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Chunk]:
        """Open a streamed call; the connection is made (and fallbacks tried) before this returns.

        Raises:
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself (bad parameters).
            ProviderError: every deployment failed before the first token.
        """
        await self.hosts.check_model(model, self.catalog)
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, **(extra or {})}
        if temperature is not None:
            kwargs["temperature"] = temperature
        if self.fast_path:
            relayed = await self._relayed(model, messages, kwargs)
            if relayed is not None:
                return relayed
        lazy = any(d.provider in LAZY_STREAMS for d in model.deployments)
        failures = 0
        error: ProviderError | ProviderRejected
        while True:
            try:
                response = await (await self.ready()).acompletion(
                    model=model.name,
                    messages=list(messages),
                    stream=True,
                    stream_options={"include_usage": True},
                    **kwargs,
                )
                chunks = chunks_of(response, model.name, _domain_error)
                return await opened(chunks) if lazy else chunks
            except asyncio.CancelledError:
                raise
            except (ProviderError, ProviderRejected) as exc:  # a lazy stream's first read
                failure, error = exc.__cause__, exc
            except Exception as exc:
                failure, error = exc, _domain_error(exc, model.name)
            failures += 1
            if not lazy or not isinstance(error, ProviderError):
                raise error from failure
            if failures > retries_granted(self.router, failure, model.name, _litellm()):
                raise error from failure
            log.info("%s failed before its first token: retry %d", model.name, failures)

    async def _relayed(
        self, model: CatalogModel, messages: Sequence[Mapping[str, Any]], kwargs: dict[str, Any]
    ) -> AsyncIterator[Chunk] | None:
        """The fast path when LiteLLM picks an OpenAI-format deployment; None to use LiteLLM's."""
        target = await self._target(model)
        if isinstance(target, MockAnswer):
            return target.stream(messages, kwargs, model.name)
        if target is None:
            return None
        try:
            return await self.relay.stream(target, {"messages": list(messages), **kwargs})
        except ProviderError as exc:
            self._fell_back(model, exc)
            return None

    def _fell_back(self, model: CatalogModel, exc: ProviderError) -> None:
        """A failed fast call: LiteLLM's path (its retries and configured fallbacks) takes it."""
        self.picks.forget(model.name)
        log.info("fast path to %s failed (%s); trying LiteLLM's fallbacks", model.name, exc)

    async def _target(self, model: CatalogModel) -> Target | MockAnswer | None:
        """The deployment a fast call goes to: without LiteLLM while its router is not built and
        `model` leaves it nothing to decide, else as the router chooses (or its fixed answer);
        None for LiteLLM's path (a deployment not in OpenAI's format, or none to be had)."""
        if self._router is None and (target := self.direct(model)) is not None:
            return target
        fixed = self.only_choices.of(model)[0] is not None
        try:
            deployment = await self.picks.choose(await self.ready(), model, fixed=fixed)
        except Exception:
            return None
        return self.only_choices.direct_of(deployment.get("litellm_params", {}))

    async def close(self) -> None:
        """Release the shared HTTP client."""
        await self.relay.close()

    async def complete(
        self, *, model: CatalogModel, messages: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> Any:
        """A whole (non-streamed) completion in OpenAI's response shape.

        Raises:
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself.
            ProviderError: every deployment failed.
        """
        await self.hosts.check_model(model, self.catalog)
        if self.fast_path and (direct := await self._completed_directly(model, messages, kwargs)):
            return direct
        try:
            return await (await self.ready()).acompletion(
                model=model.name, messages=list(messages), **kwargs
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _domain_error(exc, model.name) from exc

    async def _completed_directly(
        self, model: CatalogModel, messages: Sequence[Mapping[str, Any]], kwargs: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The fast path of a whole completion; None to use LiteLLM's. Null members are left
        out of the messages sent and of the answer, as LiteLLM does."""
        target = await self._target(model)
        if isinstance(target, MockAnswer):
            return target.completion(kwargs)
        if target is None:
            return None
        sent = [without_nulls(dict(m)) for m in messages]
        payload = {**kwargs, "messages": sent, "model": target.model}
        try:
            answer = await self.relay.post_json(target.url, payload, target.api_key)
        except ProviderError as exc:
            self._fell_back(model, exc)
            return None
        return dict(without_nulls(answer))

    async def embeddings(
        self,
        *,
        model: CatalogModel,
        inputs: Inputs,
        dimensions: int | None = None,
        user: str | None = None,
    ) -> Embedded:
        """Embed texts or token arrays: a local model in its worker process, a provider's through
        LiteLLM in calls of EMBEDDING_BATCH inputs (a few at once), vectors in input order.

        Raises:
            EmbeddingModelUnavailable: a local model cannot be loaded offline.
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself (e.g. `dimensions`).
            ProviderError: every deployment failed, or the answer had the wrong shape.
        """
        local = next((d for d in model.deployments if d.provider == LOCAL_PROVIDER), None)
        if local is not None:
            if self.local is None:
                raise ProviderError(f"This process runs no local models ({model.name}).")
            return await self.local.embed(local, inputs, dimensions=dimensions)
        await self.hosts.check_model(model, self.catalog)
        extra = {k: v for k, v in (("dimensions", dimensions), ("user", user)) if v is not None}

        async def batch(part: list[Any]) -> Embedded:
            if self.fast_path and (direct := await self._embedded_directly(model, part, extra)):
                return direct
            router = await self.ready()
            try:
                response = await router.aembedding(model=model.name, input=part, **extra)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise _domain_error(exc, model.name) from exc
            vectors = vectors_of(response.data or [], len(part), model.name)
            return Embedded(vectors, _prompt_tokens(getattr(response, "usage", None)))

        return await in_batches(batch, inputs)

    async def _embedded_directly(
        self, model: CatalogModel, part: list[Any], extra: dict[str, Any]
    ) -> Embedded | None:
        """The fast path when LiteLLM picks an OpenAI-format deployment; None to use LiteLLM's."""
        target = await self._target(model)
        if not isinstance(target, Target):
            return None
        url = target.url.removesuffix("/chat/completions") + "/embeddings"
        payload = {"model": target.model, "input": part, **extra}
        try:
            answer = await self.relay.post_json(url, payload, target.api_key)
        except ProviderError as exc:
            self._fell_back(model, exc)
            return None
        vectors = vectors_of(answer.get("data") or [], len(part), model.name)
        usage = answer.get("usage")
        reported = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return Embedded(vectors, int(reported) if isinstance(reported, int) else -1)

    def embed_sync(
        self, model: CatalogModel, texts: Sequence[str]
    ) -> tuple[list[list[float]], int]:
        """Embed texts with an embedding model, blocking (call it from a worker thread).

        Returns the vectors in the order given and the prompt tokens the provider reported
        (-1 when it reported none).

        Raises:
            ProviderAddressBlocked: a deployment points at a link-local or metadata address.
            ProviderRejected: the provider refused the request itself.
            ProviderError: every deployment failed, or the answer had the wrong shape.
        """
        for deployment in model.deployments:
            base = api_base_of(deployment.litellm_params)
            if base:
                self.hosts.check_sync(base)
        try:
            response = self.router.embedding(model=model.name, input=list(texts))
        except Exception as exc:
            raise _domain_error(exc, model.name) from exc
        vectors = vectors_of(response.data or [], len(texts), model.name)
        return vectors, _prompt_tokens(getattr(response, "usage", None))


def _prompt_tokens(usage: Any) -> int:
    """The prompt tokens of a LiteLLM usage object; -1 when none were reported."""
    reported = getattr(usage, "prompt_tokens", None) if usage is not None else None
    return int(reported) if reported is not None else -1


def _domain_error(exc: Exception, model_name: str) -> ProviderError | ProviderRejected:
    return domain_error(exc, model_name, _litellm())
