"""What a model costs: US dollars per token, prompt-cache reads and writes at rates of their own."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """What a model costs, in US dollars per token; prompt tokens read from or written to the
    provider's prompt cache have rates of their own (the input rate when not given)."""

    input_per_token: float
    output_per_token: float
    cache_read_per_token: float | None = None
    cache_write_per_token: float | None = None

    def cost_micros(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> int:
        """The cost of a call in integer micro-dollars, rounded up so nothing is under-billed;
        the cache tokens are part of `prompt_tokens`."""
        if not cache_read_tokens and not cache_write_tokens:  # the sum below, less its zero terms
            return micros_up(
                prompt_tokens * self.input_per_token + completion_tokens * self.output_per_token
            )
        read = min(max(0, cache_read_tokens), prompt_tokens)
        write = min(max(0, cache_write_tokens), prompt_tokens - read)
        dollars = (
            (prompt_tokens - read - write) * self.input_per_token
            + read * _or(self.cache_read_per_token, self.input_per_token)
            + write * _or(self.cache_write_per_token, self.input_per_token)
            + completion_tokens * self.output_per_token
        )
        return micros_up(dollars)

    def worst_case_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The most a call can cost: every prompt token at the dearest prompt rate."""
        dearest = max(self.input_per_token, _or(self.cache_write_per_token, 0.0))
        # `cost_micros` with no cache tokens: its zero terms add nothing to the sum
        return micros_up(prompt_tokens * dearest + completion_tokens * self.output_per_token)


def micros_up(dollars: float) -> int:
    """Dollars as integer micro-dollars, rounded up, float noise below a millionth of a micro-dollar
    ignored: `math.ceil(round(dollars * 1_000_000, 6))`, without `round`'s decimal conversion
    (~0.8 us) where the answer is plain: the fraction of a micro-dollar clearly below or above
    half a millionth (below 2**31 micro-dollars a float's steps are finer than a millionth)."""
    micros = dollars * 1_000_000
    if 0.0 <= micros < _PLAIN_BELOW:
        whole = int(micros)
        fraction = micros - whole
        if fraction < _HALF_MILLIONTH - _MARGIN:
            return whole
        if fraction > _HALF_MILLIONTH + _MARGIN:
            return whole + 1
    return math.ceil(round(micros, 6))


_PLAIN_BELOW = float(2**31)
_HALF_MILLIONTH = 5e-7
_MARGIN = 1e-9


def _or(rate: float | None, default: float) -> float:
    return default if rate is None else rate
