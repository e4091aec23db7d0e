"""Which deployment a fast call goes to: chosen without LiteLLM where its router has nothing to
decide, else LiteLLM's choice, kept for a second where it cannot differ.

The fast path (`relay`) asks LiteLLM's Router which deployment to call: ~0.3 ms of CPU a call
(its routing stores, cooldown reads and selection), a tenth of a whole streamed `/v1` call
(bench/README.md). One rule, `only_choice`, says when there is nothing to balance: a model with
one usable deployment that has no per-deployment limits of LiteLLM's own (rpm, tpm, parallel
requests), under router settings that cannot bear on the choice. Its answer and where a call to
it goes are worked out once per catalog version (`OnlyChoices`).

Before LiteLLM's router exists in the process, such a model's deployment is taken without it,
so a catalog of such models never imports LiteLLM (~180 MB resident with its warm-up,
bench/README.md). That is the router's own answer: its other choices depend on state that only
its own calls make (cooldowns after failures, counted traffic) or on settings that
`only_choice` refuses, and a failed direct call takes LiteLLM's path, which builds the router.
Once it exists, its choice for such a model is reused for `PICK_SECONDS` from the same router; a
call through it that fails is forgotten at once (the caller then takes LiteLLM's own path, with
its retries, cooldowns and fallbacks), and a rebuilt router (a catalog change) asks again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from assistant.gateway.mock_answers import MockAnswer, answer_of
from core.catalog import LOCAL_PROVIDER, Catalog, CatalogModel

T = TypeVar("T")
_Choice = tuple[Mapping[str, Any] | None, T | MockAnswer | None]  # only_choice, direct_of
PICK_SECONDS = 1.0
# LiteLLM's per-deployment limits: its choice then depends on the traffic it counted.
_COUNTED = ("rpm", "tpm", "max_parallel_requests")
# Router settings that cannot change which deployment a call to a one-deployment model starts on:
# they act after a call failed (retries, fallbacks, cooldowns) or on how it is made (timeouts).
# Any other (tag filtering, health-check routing, budgets, a shared Redis of cooldowns, default
# parameters, pre-call checks...) leaves the choice to LiteLLM.
_INERT_SETTINGS = frozenset(
    {
        "num_retries",
        "retry_policy",
        "model_group_retry_policy",
        "retry_after",
        "max_fallbacks",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "default_fallbacks",
        "timeout",
        "stream_timeout",
        "allowed_fails",
        "allowed_fails_policy",
        "cooldown_time",
        "disable_cooldowns",
        "routing_strategy",
        "set_verbose",
        "debug_level",
    }
)
# Strategies that choose among several deployments and so have only one to choose from here.
_BALANCING = frozenset(
    {
        "simple-shuffle",
        "least-busy",
        "latency-based-routing",
        "usage-based-routing",
        "usage-based-routing-v2",
    }
)


def only_choice(
    model: CatalogModel, router_settings: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The `litellm_params` of the one deployment LiteLLM's router could choose for `model`,
    found without LiteLLM; None when the router has something to decide (several usable
    deployments, limits it counts, or router settings that bear on the choice)."""
    usable = [d for d in model.deployments if d.available and d.provider != LOCAL_PROVIDER]
    if not model.enabled or len(usable) != 1 or not inert(router_settings):
        return None
    params = usable[0].litellm_params
    return None if any(params.get(k) for k in _COUNTED) else params


def inert(router_settings: Mapping[str, Any]) -> bool:
    """Whether these router settings leave a one-deployment model no other choice."""
    strategy = router_settings.get("routing_strategy", "simple-shuffle")
    return strategy in _BALANCING and _INERT_SETTINGS.issuperset(router_settings)


class Picks:
    """The deployments LiteLLM chose lately, per model name."""

    def __init__(self, seconds: float = PICK_SECONDS) -> None:
        self.seconds = seconds
        self._held: dict[str, tuple[float, object, dict[str, Any]]] = {}

    async def choose(self, router: Any, model: CatalogModel, *, fixed: bool) -> dict[str, Any]:
        """The deployment LiteLLM's `router` chooses for `model`, kept for `seconds` when it is
        `fixed` (the model has an `only_choice`). Raises as LiteLLM does; only
        `assistant.gateway.router` imports LiteLLM, hence untyped."""
        now = time.monotonic()
        held = self._held.get(model.name)
        if held is not None and held[0] > now and held[1] is router:
            return held[2]
        deployment: dict[str, Any] = await router.async_get_available_deployment(
            model=model.name, request_kwargs={}
        )
        if fixed:
            self._held[model.name] = (now + self.seconds, router, deployment)
        return deployment

    def forget(self, name: str) -> None:
        """Ask LiteLLM again next time (a call through the deployment failed)."""
        self._held.pop(name, None)


class OnlyChoices(Generic[T]):
    """Each model's `only_choice` and where a call to it goes without LiteLLM (`direct_of`),
    worked out once for the model and router settings of a catalog version: a catalog change
    brings new objects, worked out afresh, and `clear` lets the old ones go."""

    def __init__(
        self, catalog: Catalog, target_of: Callable[[Mapping[str, Any]], T | None]
    ) -> None:
        self.catalog = catalog
        self._target_of = target_of  # `relay.target_of` (only the gateway names the relay)
        self._known: dict[str, tuple[CatalogModel, Mapping[str, Any], _Choice[T]]] = {}

    def of(self, model: CatalogModel) -> _Choice[T]:
        """`only_choice` of `model` under the catalog's router settings, and `direct_of` it
        (None when it is None)."""
        router_settings = self.catalog.router_settings
        known = self._known.get(model.name)
        if known is not None and known[0] is model and known[1] is router_settings:
            return known[2]
        params = only_choice(model, router_settings)
        choice = (params, None if params is None else self.direct_of(params))
        self._known[model.name] = (model, router_settings, choice)
        return choice

    def direct_of(self, params: Mapping[str, Any]) -> T | MockAnswer | None:
        """Where a call to the deployment of `litellm_params` goes without LiteLLM: its
        OpenAI-format endpoint or its fixed answer; None when only LiteLLM can make it."""
        return self._target_of(params) or answer_of(params)

    def clear(self) -> None:
        """Forget every model's (the catalog changed)."""
        self._known.clear()
