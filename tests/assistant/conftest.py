"""Chat tests run on both streaming paths: the fast relay and LiteLLM's own."""

from __future__ import annotations

import pytest

from tests.support import AppHarness, Harnesses


@pytest.fixture(params=[True, False], ids=["fast-path", "litellm-path"])
async def harness(request: pytest.FixtureRequest, make_harness: Harnesses) -> AppHarness:
    return await make_harness(fast_path=request.param)
