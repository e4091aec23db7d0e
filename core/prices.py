"""What a model costs: US dollars per token, prompt-cache reads and writes at rates of their own."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


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
        read = min(max(0, cache_read_tokens), prompt_tokens)
        write = min(max(0, cache_write_tokens), prompt_tokens - read)
        dollars = (
            (prompt_tokens - read - write) * self.input_per_token
            + read * _or(self.cache_read_per_token, self.input_per_token)
            + write * _or(self.cache_write_per_token, self.input_per_token)
            + completion_tokens * self.output_per_token
        )
        return math.ceil(round(dollars * 1_000_000, 6))

    def worst_case_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        """The most a call can cost: every prompt token at the dearest prompt rate."""
        dearest = max(self.input_per_token, _or(self.cache_write_per_token, 0.0))
        return replace(self, input_per_token=dearest).cost_micros(prompt_tokens, completion_tokens)


def _or(rate: float | None, default: float) -> float:
    return default if rate is None else rate
