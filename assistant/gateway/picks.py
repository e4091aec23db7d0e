"""LiteLLM's choice of deployment, kept for a second where it cannot differ.

The fast path (`relay`) asks LiteLLM's Router which deployment to call: ~0.3 ms of CPU a call
(its routing stores, cooldown reads and selection), a tenth of a whole streamed `/v1` call
(bench/README.md). For a model with one deployment that has no per-deployment limits of
LiteLLM's own (rpm, tpm, parallel requests), there is nothing to balance: the answer is that
deployment. It is reused for `PICK_SECONDS` from the same router; a call through it that fails is
forgotten at once (the caller then takes LiteLLM's own path, with its retries, cooldowns and
fallbacks), and a rebuilt router (a catalog change) asks again.
"""

from __future__ import annotations

import time
from typing import Any

from core.catalog import CatalogModel

PICK_SECONDS = 1.0
# LiteLLM's per-deployment limits: its choice then depends on the traffic it counted.
_COUNTED = ("rpm", "tpm", "max_parallel_requests")


class Picks:
    """The deployments LiteLLM chose lately, per model name."""

    def __init__(self, seconds: float = PICK_SECONDS) -> None:
        self.seconds = seconds
        self._held: dict[str, tuple[float, object, dict[str, Any]]] = {}

    async def choose(self, router: Any, model: CatalogModel) -> dict[str, Any]:
        """The deployment LiteLLM's `router` chooses for `model` (raises as LiteLLM does; only
        `assistant.gateway.router` imports LiteLLM, hence untyped)."""
        now = time.monotonic()
        held = self._held.get(model.name)
        if held is not None and held[0] > now and held[1] is router:
            return held[2]
        deployment: dict[str, Any] = await router.async_get_available_deployment(
            model=model.name, request_kwargs={}
        )
        if _fixed(model, deployment):
            self._held[model.name] = (now + self.seconds, router, deployment)
        return deployment

    def forget(self, name: str) -> None:
        """Ask LiteLLM again next time (a call through the deployment failed)."""
        self._held.pop(name, None)


def _fixed(model: CatalogModel, deployment: dict[str, Any]) -> bool:
    """Whether LiteLLM can only ever choose this deployment for the model."""
    params = deployment.get("litellm_params") or {}
    counted = any(deployment.get(k) or params.get(k) for k in _COUNTED)
    return len(model.deployments) == 1 and not counted
