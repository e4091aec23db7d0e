"""The app under test with extra settings, for the browser tests that need them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.upstream import FakeUpstream
from tests.support import ADMIN, PASSWORD, live_server, make_catalog
from tests.web.conftest import Site


@contextmanager
def site_with(upstream: FakeUpstream, tmp_path: Path, **settings: Any) -> Iterator[Site]:
    """Like the `site` fixture, with settings of the app overridden."""
    with (
        live_server(make_catalog(upstream.base_url), tmp_path, **settings) as url,
        httpx.Client(base_url=url, timeout=30) as admin,
    ):
        login = admin.post("/api/auth/login", json={"username": ADMIN, "password": PASSWORD})
        login.raise_for_status()
        admin.headers["X-CSRF-Token"] = login.json()["csrfToken"]
        yield Site(url=url, upstream=upstream, admin=admin)
