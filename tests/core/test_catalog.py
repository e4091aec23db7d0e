"""models.yaml: LiteLLM Proxy's shape, validated with errors that name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.catalog import UnknownModel, load_catalog, parse_catalog
from core.errors import InvalidCatalog

ROOT = Path(__file__).resolve().parents[2]


def _entry(name: str, model: str = "openai/x", **params: object) -> dict[str, object]:
    return {"model_name": name, "litellm_params": {"model": model, **params}}


def test_shipped_catalog_has_a_demo_model_that_needs_no_provider() -> None:
    catalog = load_catalog(ROOT / "models.yaml")
    assert catalog.default_model == "demo"
    demo = catalog.usable("demo")
    assert demo.available and demo.price is not None and demo.price.cost_micros(1000, 1000) == 0
    assert "demo" in demo.description.lower()


def test_deployment_with_an_unset_environment_key_is_listed_but_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SB_TEST_KEY", raising=False)
    raw = {"model_list": [_entry("m", api_key="os.environ/SB_TEST_KEY")]}
    model = parse_catalog(raw).resolve("m")
    assert not model.available and "SB_TEST_KEY" in (model.unavailable_reason or "")
    assert parse_catalog(raw).router_model_list() == []
    monkeypatch.setenv("SB_TEST_KEY", "k")
    assert parse_catalog(raw).resolve("m").available


def test_prices_in_model_info_override_litellms_cost_map() -> None:
    raw = {
        "model_list": [
            {
                **_entry("g", "openai/gpt-4o"),
                "model_info": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            }
        ]
    }
    price = parse_catalog(raw).resolve("g").price
    assert price is not None and price.cost_micros(1_000_000, 1_000_000) == 3_000_000
    known = parse_catalog({"model_list": [_entry("g", "openai/gpt-4o")]}).resolve("g")
    assert (
        known.price is not None
        and known.price.input_per_token > 0
        and known.max_input_tokens > 8192
    )


def test_unknown_model_without_price_has_none_rather_than_free() -> None:
    assert (
        parse_catalog({"model_list": [_entry("mystery", "openai/no-such-model-xyz")]})
        .resolve("mystery")
        .price
        is None
    )


def test_aliases_resolve_to_their_model_and_bad_aliases_are_named() -> None:
    raw = {"model_list": [_entry("a")], "switchboard": {"aliases": {"short": "a"}}}
    assert parse_catalog(raw).resolve("short").name == "a"
    with pytest.raises(InvalidCatalog, match="alias 'oops'"):
        parse_catalog({**raw, "switchboard": {"aliases": {"oops": "missing"}}})
    with pytest.raises(UnknownModel):
        parse_catalog(raw).resolve("nope")


def test_invalid_entry_error_names_the_entry() -> None:
    raw = {"model_list": [_entry("ok"), {"model_name": "broken", "litellm_params": {}}]}
    with pytest.raises(
        InvalidCatalog, match=r"model_list\[1\] \(model_name 'broken'\): litellm_params.model"
    ):
        parse_catalog(raw)


def test_unreadable_or_non_yaml_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidCatalog, match="Cannot read"):
        load_catalog(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: [\n")
    with pytest.raises(InvalidCatalog, match="not valid YAML"):
        load_catalog(bad)


def test_default_model_must_exist() -> None:
    with pytest.raises(InvalidCatalog, match="default_model 'zzz'"):
        parse_catalog({"model_list": [_entry("a")], "switchboard": {"default_model": "zzz"}})
