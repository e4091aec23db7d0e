"""Stored models merged into the file catalog: the file wins, blocks ride on each model, and one
live catalog object adopts a rebuilt one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.catalog import CatalogModel, Deployment, ModelDisabled, parse_catalog, with_stored
from core.sealing import SealedSecretUnreadable, Sealer, load_key


def _stored(name: str, *aliases: str, enabled: bool = True) -> CatalogModel:
    params = {"model": f"openai/{name}", "api_base": "http://127.0.0.1:1/v1"}
    return CatalogModel(
        name=name,
        description="",
        deployments=(Deployment(name, params, "house", ()),),
        price=None,
        max_input_tokens=8192,
        max_output_tokens=None,
        aliases=aliases,
        source="database",
        enabled=enabled,
    )


def test_names_and_aliases_from_the_file_win_over_stored_ones() -> None:
    base = parse_catalog(
        {
            "model_list": [{"model_name": "filed", "litellm_params": {"model": "openai/filed"}}],
            "switchboard": {"aliases": {"f": "filed"}},
        }
    )
    merged = with_stored(base, [_stored("filed"), _stored("house", "f", "h")], {})
    assert merged.resolve("filed").source == "file" and merged.resolve("f").name == "filed"
    assert merged.resolve("h").name == "house" and merged.resolve("house").aliases == ("h",)
    assert {d["model_name"] for d in merged.router_model_list()} == {"filed", "house"}
    assert "house" not in base.models  # the file catalog itself is left as it was


def test_a_blocked_or_disabled_model_is_refused_only_where_it_should_be() -> None:
    base = parse_catalog(
        {"model_list": [{"model_name": "filed", "litellm_params": {"model": "openai/filed"}}]}
    )
    merged = with_stored(base, [_stored("off", enabled=False)], {"filed": frozenset({"t1"})})
    assert merged.usable("filed", ("t2",)).name == "filed"
    with pytest.raises(ModelDisabled):
        merged.usable("filed", ("t2", "t1"))
    with pytest.raises(ModelDisabled):
        merged.usable("off")
    assert [d["model_name"] for d in merged.router_model_list()] == ["filed"]


def test_the_live_catalog_adopts_a_rebuilt_one_in_place() -> None:
    live = parse_catalog(
        {"model_list": [{"model_name": "filed", "litellm_params": {"model": "openai/filed"}}]}
    )
    base = replace(live)
    live.adopt(with_stored(base, [_stored("house")], {}))
    assert live.resolve("house").source == "database"
    live.adopt(with_stored(base, [], {}))
    assert "house" not in live.models


def test_a_sealed_value_opens_only_with_its_key_and_context(tmp_path: Path) -> None:
    folder = tmp_path
    key = load_key("", folder, file_name="k.key", setting="SWITCHBOARD_X")
    assert load_key("", folder, file_name="k.key", setting="SWITCHBOARD_X") == key
    sealer = Sealer(key)
    sealed = sealer.seal("sk-secret", context="p1")
    assert "sk-secret" not in sealed and sealer.open(sealed, context="p1") == "sk-secret"
    with pytest.raises(SealedSecretUnreadable):
        sealer.open(sealed, context="p2")
    other = load_key("", folder / "other", file_name="k.key", setting="SWITCHBOARD_X")
    with pytest.raises(SealedSecretUnreadable):
        Sealer(other).open(sealed, context="p1")
