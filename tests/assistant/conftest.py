"""Chat tests run on both streaming paths: the fast relay and LiteLLM's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeUpstream
from tests.support import AppHarness, make_catalog


@pytest.fixture(params=[True, False], ids=["fast-path", "litellm-path"])
async def harness(
    request: pytest.FixtureRequest, upstream: FakeUpstream, tmp_path: Path
) -> AsyncIterator[AppHarness]:
    catalog = make_catalog(upstream.base_url)
    async with AppHarness.start(catalog, tmp_path, fast_path=request.param) as running:
        yield running
