"""A provider call that failed: as the domain's error, and in plain words for a probe."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from assistant.errors import ProviderError, ProviderRejected

# LiteLLM's exception class for a provider's failure status, for its retry policy.
_RETRIED_AS = {
    408: "Timeout",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "InternalServerError",
    503: "ServiceUnavailableError",
    529: "ServiceUnavailableError",
}


def probe_failure(exc: Exception, params: Mapping[str, Any], litellm: ModuleType) -> str:
    """Why a probe call failed, in plain words."""
    status = getattr(exc, "status_code", None)
    text = str(getattr(exc, "message", "") or exc).splitlines()[0][:300]
    where = params.get("api_base") or "its default address"
    if _unreachable(exc, litellm):
        return f"Could not reach the provider at {where}: {text}"
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
        return f"The provider refused the credentials ({status}): {text}"
    if isinstance(exc, litellm.NotFoundError):
        return f"The provider does not know model {params.get('model')!r} ({status}): {text}"
    return f"The provider answered with an error ({status or type(exc).__name__}): {text}"


def _unreachable(exc: BaseException, litellm: ModuleType) -> bool:
    """Whether the call failed to connect or timed out (LiteLLM may wrap that as a 500)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, litellm.APIConnectionError | litellm.Timeout | ConnectionError):
            return True
        if type(seen).__name__ in {"ConnectError", "ConnectTimeout", "APIConnectionError"}:
            return True
        seen = seen.__cause__ or seen.__context__
    return "Connection error" in str(exc)


def domain_error(
    exc: Exception, model_name: str, litellm: ModuleType
) -> ProviderError | ProviderRejected:
    """A LiteLLM failure as the domain's error: the provider refused the request, or failed."""
    status = getattr(exc, "status_code", None)
    text = str(getattr(exc, "message", "") or exc).splitlines()[0][:300]
    if isinstance(exc, litellm.BadRequestError | litellm.ContextWindowExceededError):
        return ProviderRejected(
            f"The provider refused the request to {model_name}: {text}", model=model_name
        )
    return ProviderError(
        f"The provider of {model_name} failed ({status or type(exc).__name__}). "
        "Try again, or pick another model.",
        model=model_name,
        providerStatus=status,
    )


def retries_granted(
    router: Any, failure: BaseException | None, group: str, litellm: ModuleType
) -> int:
    """How many retries LiteLLM's `router` grants `failure` for this model group (a provider's
    own error class is read by its status, as LiteLLM maps it)."""
    original = getattr(failure, "original_exception", None) or failure
    kind = _RETRIED_AS.get(getattr(original, "status_code", None) or 0)
    if kind is not None and isinstance(original, Exception):
        original = getattr(litellm, kind)(str(original), llm_provider="", model=group)
    granted = None
    if isinstance(original, Exception):
        granted = router.get_num_retries_from_retry_policy(original, model_group=group)
    return int(granted if granted is not None else router.num_retries or 0)
