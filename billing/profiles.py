"""Usage profiles: which models a team or user may use, and a monthly cap enforced as a budget.

A user's own profile decides for them; without one, a model is allowed when any of their teams'
profiles allows it; with no profile at all every model is allowed. A monthly cap becomes a hard
monthly budget linked to the profile, so it is enforced by the same atomic reservation as budgets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Row, Table, and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from billing import budgets
from billing.errors import ModelNotAllowed, UsageProfileExists, UsageProfileNotFound
from billing.models import Budget, UsageProfile
from billing.schemas import BudgetCreate, UsageProfileCreate, UsageProfileUpdate
from core.catalog import CatalogModel

PROFILES = cast(Table, UsageProfile.__table__)
# The profiles that may decide for a caller: their own and their teams'.
DECIDING = select(
    PROFILES.c.id, PROFILES.c.name, PROFILES.c.scope, PROFILES.c.allowed_models
).where(
    or_(
        and_(PROFILES.c.scope == "user", PROFILES.c.scope_id == bindparam("user")),
        and_(
            PROFILES.c.scope == "team",
            PROFILES.c.scope_id.in_(bindparam("teams", expanding=True)),
        ),
    )
)


async def create(session: AsyncSession, *, data: UsageProfileCreate) -> UsageProfile:
    """Add a usage profile to a team or user.

    Raises:
        UsageProfileExists: that team or user has one already.
    """
    profile = UsageProfile(**data.model_dump())
    try:
        async with session.begin_nested():
            session.add(profile)
            await session.flush()
    except IntegrityError:
        raise UsageProfileExists(scope=data.scope, scopeId=data.scope_id) from None
    await _sync_cap(session, profile)
    return profile


async def get(session: AsyncSession, *, profile_id: str) -> UsageProfile:
    """A usage profile by id.

    Raises:
        UsageProfileNotFound: no profile has that id.
    """
    profile = await session.get(UsageProfile, profile_id)
    if profile is None:
        raise UsageProfileNotFound(profile_id=profile_id)
    return profile


async def list_profiles(session: AsyncSession) -> Sequence[UsageProfile]:
    """Every usage profile, by name."""
    return list(await session.scalars(select(UsageProfile).order_by(UsageProfile.name)))


async def update(
    session: AsyncSession, *, profile: UsageProfile, data: UsageProfileUpdate
) -> UsageProfile:
    """Change a profile; fields left out stay, null clears the model list or the cap."""
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is not None:
        profile.name = changes["name"]
    if "allowed_models" in changes:
        profile.allowed_models = changes["allowed_models"]
    if "monthly_cap_micros" in changes:
        profile.monthly_cap_micros = changes["monthly_cap_micros"]
    await session.flush()
    await _sync_cap(session, profile)
    return profile


async def delete(session: AsyncSession, *, profile: UsageProfile) -> None:
    """Remove a profile and its cap budget."""
    await session.delete(profile)
    await session.flush()


@dataclass(frozen=True, kw_only=True)
class DecidingProfile:
    """A profile that decides which models a caller may use."""

    id: str
    name: str
    allowed_models: Sequence[str] | None


@dataclass(frozen=True)
class ModelRule:
    """What a caller's usage profiles allow: the one rule behind admission and model lists.

    `deciding` are the profiles that decide for the caller: their own, else their teams'.
    """

    deciding: Sequence[DecidingProfile]

    def refusing(self, model_names: Sequence[str]) -> DecidingProfile | None:
        """The deciding profile that refuses the model (by name or any alias), or None."""
        if not self.deciding:
            return None
        names = set(model_names)
        if any(p.allowed_models is None or names & set(p.allowed_models) for p in self.deciding):
            return None
        return self.deciding[0]

    def allows(self, model_names: Sequence[str]) -> bool:
        """Whether a call to the model (its name and aliases) would be admitted."""
        return self.refusing(model_names) is None

    def admits(self, model: CatalogModel) -> bool:
        """Whether admission would let the caller call this catalog model (profiles only)."""
        return self.allows((model.name, *model.aliases))


def rule_of(found: Iterable[Row[Any, Any, Any, Any]]) -> ModelRule:
    """The rule of the rows `DECIDING` found for a caller."""
    rows = list(found)
    own = [p for p in rows if p.scope == "user"]
    return ModelRule(
        [
            DecidingProfile(id=p.id, name=p.name, allowed_models=p.allowed_models)
            for p in own or rows
        ]
    )


async def model_rule(session: AsyncSession, *, user_id: str, team_ids: Iterable[str]) -> ModelRule:
    """The caller's model rule, for listing the models they may call."""
    params = {"user": user_id, "teams": list(team_ids)}
    return rule_of((await session.execute(DECIDING, params)).all())


def check_model(rule: ModelRule, *, model_names: Sequence[str]) -> None:
    """Refuse a model the caller's usage profiles (their `rule`) do not allow.

    `model_names` are the model's name and aliases; a profile listing any of them allows it.

    Raises:
        ModelNotAllowed: the profile that decides for the caller does not list the model.
    """
    refusing = rule.refusing(model_names)
    if refusing is None:
        return
    raise ModelNotAllowed(
        f"Your usage profile does not allow the model {model_names[0]!r}.",
        model=model_names[0],
        profile={"id": refusing.id, "name": refusing.name},
    )


async def _sync_cap(session: AsyncSession, profile: UsageProfile) -> None:
    budget = await session.scalar(select(Budget).where(Budget.profile_id == profile.id))
    if profile.monthly_cap_micros is None:
        if budget is not None:
            await budgets.delete_budget(session, budget=budget)
        return
    name = f"{profile.name} (monthly cap)"[:200]
    if budget is None:
        data = BudgetCreate(
            name=name,
            scope="user" if profile.scope == "user" else "team",
            scope_id=profile.scope_id,
            limit_micros=profile.monthly_cap_micros,
            period="month",
            hard=True,
        )
        await budgets.create(session, data=data, profile_id=profile.id)
        return
    budget.name = name
    budget.limit_micros = profile.monthly_cap_micros
    await session.flush()
