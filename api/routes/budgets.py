"""Usage budgets with their current period's figures, and the alerts their thresholds raise."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Response

from api.deps import AdminUser, PageDep, PrincipalDep, SessionDep
from api.hal import (
    Collection,
    Resource,
    api_router,
    collection,
    collection_of,
    resource,
    resource_of,
)
from billing import alerts, budgets
from billing.errors import BudgetNotFound
from billing.models import Budget, UsageAlert
from billing.schemas import BudgetCreate, BudgetRead, BudgetScope, BudgetUpdate, UsageAlertRead
from core.listing import Page

router = api_router(prefix="/api", tags=["Usage budgets"])
ScopeId = Annotated[str | None, Query(alias="scopeId", max_length=26)]


def budget_body(view: BudgetRead) -> Resource[BudgetRead]:
    """A budget and its current period as a HAL resource."""
    href = f"/api/usage-budgets/{view.id}"
    return resource(view, href, alerts=f"/api/usage-alerts?budgetId={view.id}")


def alert_body(alert: UsageAlert) -> Resource[UsageAlertRead]:
    """A usage alert as a HAL resource."""
    return resource(
        UsageAlertRead.model_validate(alert),
        f"/api/usage-alerts?budgetId={alert.budget_id}",
        budget=f"/api/usage-budgets/{alert.budget_id}",
    )


async def _visible(session: SessionDep, principal: PrincipalDep) -> list[Budget]:
    """The budgets a member may see: those that apply to their own requests."""
    caller = principal.caller
    scopes: list[tuple[str, str | None]] = [("user", caller.user_id)]
    scopes += [("team", t) for t in caller.team_ids]
    scopes.append(("apiToken", caller.api_token_id))
    return list(await budgets.applicable(session, scopes=scopes))


async def readable_budget(budget_id: str, principal: PrincipalDep, session: SessionDep) -> Budget:
    """The budget named by `budget_id`: any for an admin, else one that applies to the caller's
    own requests (else 404 `budget_not_found`)."""
    budget = await budgets.get(session, budget_id=budget_id)
    if principal.user.is_admin or budget.id in {b.id for b in await _visible(session, principal)}:
        return budget
    raise BudgetNotFound(budget_id=budget_id)


async def admin_budget(budget_id: str, _: AdminUser, session: SessionDep) -> Budget:
    """The budget named by `budget_id`, for an admin (403 for anyone else, then 404
    `budget_not_found`)."""
    return await budgets.get(session, budget_id=budget_id)


ReadableBudgetDep = Annotated[Budget, Depends(readable_budget)]
BudgetDep = Annotated[Budget, Depends(admin_budget)]


@router.get("/usage-budgets", response_model=collection_of("usageBudgets", BudgetRead))
async def list_budgets(
    principal: PrincipalDep,
    session: SessionDep,
    page: PageDep,
    scope: BudgetScope | None = None,
    scope_id: ScopeId = None,
) -> Collection[Resource[BudgetRead]]:
    """Usage budgets by name, each with its current period's spent, reserved and remaining
    amounts and `resetsAt`. Admins see every budget (filter with `scope` and `scopeId`); members
    see the budgets that apply to their own requests."""
    if principal.user.is_admin:
        found = list(await budgets.list_budgets(session, scope=scope, scope_id=scope_id))
    else:
        found = [
            b
            for b in await _visible(session, principal)
            if scope in (None, b.scope) and scope_id in (None, b.scope_id)
        ]
    window = found[page.start : page.start + page.limit]
    views = [await budgets.status(session, budget=b) for b in window]
    result = Page(views, len(found), page.start, page.limit)
    params = {"scope": scope, "scopeId": scope_id}
    return collection("usageBudgets", "/api/usage-budgets", result, budget_body, params)


@router.post("/usage-budgets", status_code=201, response_model=resource_of(BudgetRead))
async def create_budget(
    body: BudgetCreate, _: AdminUser, session: SessionDep
) -> Resource[BudgetRead]:
    """Add a budget over a user, team, API token, assistant or everyone (`global`).

    Hard budgets refuse a request whose worst case does not fit with 402 `budget_exceeded`; soft
    ones only raise alerts at their thresholds (and at 100%).
    """
    budget = await budgets.create(session, data=body)
    return budget_body(await budgets.status(session, budget=budget))


@router.get("/usage-budgets/{budget_id}", response_model=resource_of(BudgetRead))
async def get_budget(budget: ReadableBudgetDep, session: SessionDep) -> Resource[BudgetRead]:
    """One budget with its current period: `spentMicros`, `reservedMicros`, `remainingMicros`,
    the same in tokens, and `resetsAt` (null for a `total` budget)."""
    return budget_body(await budgets.status(session, budget=budget))


@router.patch("/usage-budgets/{budget_id}", response_model=resource_of(BudgetRead))
async def update_budget(
    budget: BudgetDep, body: BudgetUpdate, _: AdminUser, session: SessionDep
) -> Resource[BudgetRead]:
    """Change a budget; fields left out stay, null clears a limit (one limit must remain)."""
    budget = await budgets.update_budget(session, budget=budget, data=body)
    return budget_body(await budgets.status(session, budget=budget))


@router.delete("/usage-budgets/{budget_id}", status_code=204)
async def delete_budget(budget: BudgetDep, _: AdminUser, session: SessionDep) -> Response:
    """Remove a budget; requests it admitted still settle normally."""
    await budgets.delete_budget(session, budget=budget)
    return Response(status_code=204)


@router.get("/usage-alerts", response_model=collection_of("usageAlerts", UsageAlertRead))
async def list_alerts(
    _: AdminUser,
    session: SessionDep,
    page: PageDep,
    budget_id: Annotated[str | None, Query(alias="budgetId", max_length=26)] = None,
) -> Collection[Resource[UsageAlertRead]]:
    """Alerts raised when a budget's spending crossed one of its thresholds, newest first: one
    per budget, period and threshold. With a webhook configured they are also POSTed there."""
    found, total = await alerts.list_alerts(
        session, budget_id=budget_id, start=page.start, limit=page.limit
    )
    result = Page(found, total, page.start, page.limit)
    params = {"budgetId": budget_id}
    return collection("usageAlerts", "/api/usage-alerts", result, alert_body, params)
