"""The model catalog: models.yaml in LiteLLM Proxy's shape, plus Switchboard's own keys.

The file is parsed once into typed objects; `with_stored` merges in the models admins stored in
the database. `assistant` hands the active deployments to LiteLLM's Router; `billing` reads
prices. Prices in `model_info` win; otherwise LiteLLM's bundled cost map (read as a data file,
without importing LiteLLM) is consulted.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import InvalidCatalog, InvalidInput, PermissionDenied
from core.prices import Price as Price  # billing and tests read it from here

ENV_PREFIX = "os.environ/"
# A deployment `sentence-transformers/<name>` is a model this process runs itself (not LiteLLM).
LOCAL_PROVIDER = "sentence-transformers"
EMBEDDING = "embedding"


class UnknownModel(InvalidInput):
    """No model of that name is configured; GET /api/models lists the models you can use."""

    code = "unknown_model"


class ModelUnavailable(InvalidInput):
    """That model is configured but not usable: its provider key or server is not set up."""

    code = "model_unavailable"


class WrongModelMode(InvalidInput):
    """That model does not do this: chat models answer chats, embedding models make embeddings."""

    code = "wrong_model_mode"


class ModelDisabled(PermissionDenied):
    """That model is turned off for you (for your team, or for everyone); pick another model."""

    code = "model_disabled"


class _LitellmParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)


class _ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    input_cost_per_token: float | None = Field(default=None, ge=0)
    output_cost_per_token: float | None = Field(default=None, ge=0)
    cache_read_input_token_cost: float | None = Field(default=None, ge=0)
    cache_creation_input_token_cost: float | None = Field(default=None, ge=0)
    max_input_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    description: str = ""


class _DeploymentEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_name: str = Field(min_length=1)
    litellm_params: _LitellmParams
    model_info: _ModelInfo = Field(default_factory=_ModelInfo)


class _SwitchboardSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_model: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_list: list[_DeploymentEntry] = Field(min_length=1)
    router_settings: dict[str, Any] = Field(default_factory=dict)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)
    general_settings: dict[str, Any] = Field(default_factory=dict)
    switchboard: _SwitchboardSection = Field(default_factory=_SwitchboardSection)


@dataclass(frozen=True)
class Deployment:
    """One way to reach a model: a provider, its parameters, and whether it is usable here."""

    model_name: str
    litellm_params: dict[str, Any]
    provider: str
    missing_env: tuple[str, ...]

    @property
    def available(self) -> bool:
        """Whether every environment variable the deployment refers to is set."""
        return not self.missing_env


@dataclass(frozen=True, kw_only=True)
class CatalogModel:
    """A model users pick by name, with its deployments, limits and price."""

    name: str
    description: str
    deployments: tuple[Deployment, ...]
    price: Price | None
    max_input_tokens: int
    max_output_tokens: int | None
    aliases: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    source: str = "file"  # "file" (models.yaml, read-only in the API) or "database"
    enabled: bool = True
    blocked_teams: frozenset[str] = frozenset()  # teams whose members may not use it

    @property
    def available(self) -> bool:
        """Whether at least one deployment is usable."""
        return any(d.available for d in self.deployments)

    def check_access(self, team_ids: Sequence[str]) -> None:
        """Refuse a caller in these teams if the model is off for everyone or for one of them.

        Raises:
            ModelDisabled: an admin turned the model off.
        """
        if not self.enabled or self.blocked_teams.intersection(team_ids):
            raise ModelDisabled(
                f"Model {self.name!r} is turned off for you; pick another model.", model=self.name
            )

    @property
    def mode(self) -> str:
        """What it does in LiteLLM's words (`chat`, `embedding`): model_info's or the cost map's."""
        first = str(self.deployments[0].litellm_params["model"]) if self.deployments else ""
        return str(self.info.get("mode") or litellm_cost_entry(first).get("mode") or "chat")

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers behind the model's deployments."""
        return tuple(dict.fromkeys(d.provider for d in self.deployments))

    @property
    def unavailable_reason(self) -> str | None:
        """A sentence telling an admin what to set up, or None when usable."""
        if self.available:
            return None
        names = sorted({n for d in self.deployments for n in d.missing_env})
        return "Set " + ", ".join(names) + " in the environment to use this model."


@dataclass(eq=False)
class Catalog:
    """Every configured model, by name, with aliases, router settings and the default model.

    One object lives as long as the app: `adopt` swaps in a rebuilt catalog (models.yaml merged
    with the models admins stored), so everything holding it sees the change.
    """

    models: Mapping[str, CatalogModel]
    aliases: Mapping[str, str]
    default_model: str
    router_settings: Mapping[str, Any]
    litellm_settings: Mapping[str, Any]

    def adopt(self, other: Catalog) -> None:
        """Take every field of a rebuilt catalog, in one step between awaits."""
        self.models, self.aliases = other.models, other.aliases
        self.default_model = other.default_model
        self.router_settings, self.litellm_settings = other.router_settings, other.litellm_settings

    def blocked(self, model: CatalogModel, team_ids: Sequence[str]) -> bool:
        """Whether the model is off for everyone, or for one of these teams."""
        return not model.enabled or bool(model.blocked_teams.intersection(team_ids))

    def resolve(self, name: str | None) -> CatalogModel:
        """The model a name or alias refers to (the default model for None).

        Raises:
            UnknownModel: no model or alias has that name.
        """
        key = name or self.default_model
        key = self.aliases.get(key, key)
        model = self.models.get(key)
        if model is None:
            raise UnknownModel(f"No model named {name!r} is configured.", model=name)
        return model

    def usable(
        self, name: str | None, team_ids: Sequence[str] = (), *, mode: str | None = "chat"
    ) -> CatalogModel:
        """The model a name refers to, if one of its deployments can be called by these teams
        and it does `mode` (`chat`: anything but embeddings; `embedding`; None: no check).

        Raises:
            UnknownModel: no model or alias has that name.
            ModelDisabled: an admin turned the model off, for everyone or for one of the teams.
            WrongModelMode: an embedding model where a chat model was asked for, or the reverse.
            ModelUnavailable: the model's provider is not configured.
        """
        model = self.resolve(name)
        model.check_access(team_ids)
        if mode is not None and (model.mode == EMBEDDING) != (mode == EMBEDDING):
            kind = f"a {model.mode} model, not an embedding model"
            if mode != EMBEDDING:
                kind = "an embedding model: call it through /v1/embeddings"
            message = f"Model {model.name!r} is {kind}."
            raise WrongModelMode(message, model=model.name, mode=model.mode)
        if not model.available:
            raise ModelUnavailable(
                f"Model {model.name!r} is not set up: {model.unavailable_reason}", model=model.name
            )
        return model

    def router_model_list(self) -> list[dict[str, Any]]:
        """The usable deployments in LiteLLM Router's `model_list` shape."""
        return [
            {"model_name": d.model_name, "litellm_params": dict(d.litellm_params)}
            for m in self.models.values()
            for d in m.deployments
            if d.available and m.enabled and d.provider != LOCAL_PROVIDER
        ]


def with_stored(
    base: Catalog, stored: Sequence[CatalogModel], team_blocks: Mapping[str, frozenset[str]]
) -> Catalog:
    """The file catalog plus models stored in the database, with the teams' model blocks
    (model name -> team ids) on each model.

    Names and aliases from models.yaml win: a stored model or alias that collides is left out.
    """
    models, aliases = dict(base.models), dict(base.aliases)
    for model in stored:
        if model.name in models or model.name in aliases:
            continue
        own = tuple(a for a in model.aliases if a not in models and a not in aliases)
        models[model.name] = replace(model, aliases=own)
        aliases.update({alias: model.name for alias in own})
    for name, teams in team_blocks.items():
        if name in models:
            models[name] = replace(models[name], blocked_teams=frozenset(teams))
    return replace(base, models=models, aliases=aliases)


def load_catalog(path: Path) -> Catalog:
    """Read and validate a catalog file.

    Raises:
        InvalidCatalog: the file is missing, is not YAML, or has an entry that cannot be used;
            the message names the entry.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidCatalog(f"Cannot read the model catalog {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise InvalidCatalog(f"The model catalog {path} is not valid YAML: {exc}") from None
    return parse_catalog(raw, source=str(path))


def parse_catalog(raw: object, *, source: str = "models.yaml") -> Catalog:
    """Validate a parsed catalog document.

    Raises:
        InvalidCatalog: an entry cannot be used; the message names it.
    """
    try:
        document = _CatalogFile.model_validate(raw)
    except ValidationError as exc:
        raise InvalidCatalog(_describe(exc, raw, source)) from None
    grouped: dict[str, list[_DeploymentEntry]] = {}
    for entry in document.model_list:
        grouped.setdefault(entry.model_name, []).append(entry)
    aliases = dict(document.switchboard.aliases)
    models = {name: _model(name, entries, aliases) for name, entries in grouped.items()}
    for alias, target in aliases.items():
        if target not in models:
            raise InvalidCatalog(f"{source}: alias {alias!r} points to unknown model {target!r}.")
    default = document.switchboard.default_model or next(iter(models))
    if aliases.get(default, default) not in models:
        raise InvalidCatalog(f"{source}: default_model {default!r} is not in model_list.")
    return Catalog(models, aliases, default, document.router_settings, document.litellm_settings)


def _model(name: str, entries: list[_DeploymentEntry], aliases: Mapping[str, str]) -> CatalogModel:
    deployments = tuple(_deployment(e) for e in entries)
    info = entries[0].model_info
    known = litellm_cost_entry(entries[0].litellm_params.model)
    price = _price(info, known)
    max_input = info.max_input_tokens or known.get("max_input_tokens") or 8192
    max_output = info.max_output_tokens or known.get("max_output_tokens")
    return CatalogModel(
        name=name,
        description=info.description,
        deployments=deployments,
        price=price,
        max_input_tokens=int(max_input),
        max_output_tokens=int(max_output) if max_output else None,
        aliases=tuple(a for a, t in aliases.items() if t == name),
        info=info.model_dump(exclude_none=True),
    )


def _price(info: _ModelInfo, known: Mapping[str, Any]) -> Price | None:
    input_cost = info.input_cost_per_token
    output_cost = info.output_cost_per_token
    if input_cost is None:
        input_cost = known.get("input_cost_per_token")
    if output_cost is None:
        output_cost = known.get("output_cost_per_token")
    if input_cost is None or output_cost is None:
        return None
    read = info.cache_read_input_token_cost
    write = info.cache_creation_input_token_cost
    read = known.get("cache_read_input_token_cost") if read is None else read
    write = known.get("cache_creation_input_token_cost") if write is None else write
    return Price(
        float(input_cost),
        float(output_cost),
        None if read is None else float(read),
        None if write is None else float(write),
    )


def _deployment(entry: _DeploymentEntry) -> Deployment:
    params = entry.litellm_params.model_dump(exclude_none=True)
    missing = tuple(
        value.removeprefix(ENV_PREFIX)
        for value in params.values()
        if isinstance(value, str)
        and value.startswith(ENV_PREFIX)
        and not os.environ.get(value.removeprefix(ENV_PREFIX))
    )
    model = str(params["model"])
    provider = str(
        params.get("custom_llm_provider") or (model.split("/", 1)[0] if "/" in model else "openai")
    )
    if "mock_response" in params:
        provider = "demo"
    return Deployment(entry.model_name, params, provider, missing)


def _describe(exc: ValidationError, raw: object, source: str) -> str:
    problems = []
    for error in exc.errors()[:5]:
        loc = error["loc"]
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "model_list" and isinstance(loc[1], int):
            name = _entry_name(raw, loc[1])
            rest = ".".join(str(p) for p in loc[2:]) or "entry"
            where = f"model_list[{loc[1]}] (model_name {name!r}): {rest}"
        problems.append(f"{where}: {error['msg']}")
    return f"{source}: " + "; ".join(problems)


def _entry_name(raw: object, index: int) -> str | None:
    if isinstance(raw, dict):
        entries = raw.get("model_list")
        if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
            name = entries[index].get("model_name")
            return str(name) if name is not None else None
    return None


@functools.cache
def _litellm_cost_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)))
    try:
        data: dict[str, Any] = json.loads(
            (path / "model_prices_and_context_window_backup.json").read_text(encoding="utf-8")
        )
    except OSError:
        return {}
    return data


def litellm_cost_entry(model: str) -> Mapping[str, Any]:
    """LiteLLM's bundled price and context-window entry for a provider model name, or {}."""
    table = _litellm_cost_map()
    for key in (model, model.split("/", 1)[-1]):
        entry = table.get(key)
        if isinstance(entry, dict):
            return entry
    return {}
