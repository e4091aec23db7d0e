"""Accounts at OpenID providers and the users they sign in as: just-in-time users, linking by
verified e-mail, and the admin role and teams kept in step with the provider's groups.

`sign_in` runs inside the caller's transaction: the user, the identity row and the team changes
are written together with the session that follows, or not at all.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock, teams, users, webhook_subscriptions
from core.errors import Conflict, PermissionDenied
from core.models import Team, TeamMembership, User, UserIdentity
from core.oidc_providers import OidcProvider
from core.schemas import TeamCreate

log = logging.getLogger(__name__)
# Never a valid Argon2 hash: a user made by a provider has no password until an admin sets one.
NO_PASSWORD = "!oidc"
_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9._@-]+")


class EmailDomainNotAllowed(PermissionDenied):
    """Your e-mail domain may not sign in here; ask an admin."""

    code = "oidc_domain_not_allowed"


class EmailNotVerified(PermissionDenied):
    """Your identity provider has not verified your e-mail address."""

    code = "oidc_email_not_verified"


class AccountNotLinked(Conflict):
    """An account with your e-mail address exists here; an admin must link it to this provider."""

    code = "oidc_account_exists"


class AccountDeactivated(PermissionDenied):
    """Your account is deactivated; ask an admin."""

    code = "account_deactivated"


@dataclass(frozen=True)
class ExternalAccount:
    """Who the provider says signed in (from a verified ID token)."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str = ""
    preferred_username: str = ""
    groups: tuple[str, ...] = ()


async def sign_in(
    session: AsyncSession, *, provider: OidcProvider, account: ExternalAccount
) -> User:
    """The user a provider's account signs in as: found by its identity, else linked by
    verified e-mail (when the provider allows it), else made; then the admin role and the
    mapped teams follow the account's groups.

    Raises:
        EmailDomainNotAllowed: the provider limits e-mail domains and this one is not listed.
        EmailNotVerified: the domain check or a link needs a verified e-mail it does not have.
        AccountNotLinked: a first sign-in whose e-mail an existing account has, not linkable.
        AccountDeactivated: the user is deactivated.
    """
    _check_domain(provider, account)
    identity = await session.scalar(
        select(UserIdentity).where(
            UserIdentity.provider == provider.name, UserIdentity.subject == account.subject
        )
    )
    if identity is not None:
        user = await users.get(session, user_id=identity.user_id)
    else:
        user = await _link_or_create(session, provider, account)
        identity = UserIdentity(user_id=user.id, provider=provider.name, subject=account.subject)
        session.add(identity)
    if not user.active:
        raise AccountDeactivated()
    identity.email = account.email
    identity.last_login_at = user.last_login_at = clock.now()
    user.last_login_method = "oidc"
    await _follow_groups(session, provider, user, set(account.groups))
    await session.flush()
    return user


def _check_domain(provider: OidcProvider, account: ExternalAccount) -> None:
    if not provider.allowed_domains:
        return
    domain = (account.email or "").rpartition("@")[2].lower()
    if domain not in provider.allowed_domains:
        raise EmailDomainNotAllowed(domain=domain or None)
    if not account.email_verified:
        raise EmailNotVerified()


async def _link_or_create(
    session: AsyncSession, provider: OidcProvider, account: ExternalAccount
) -> User:
    existing = None
    if account.email:
        existing = await session.scalar(
            select(User).where(func.lower(User.email) == account.email.lower()).limit(1)
        )
    if existing is None:
        return await _create(session, account)
    if not provider.link_by_email:
        raise AccountNotLinked()
    if not account.email_verified:
        raise EmailNotVerified()
    log.info("linked %s account %r to user %r", provider.name, account.subject, existing.username)
    return existing


async def _create(session: AsyncSession, account: ExternalAccount) -> User:
    """A new member of the Everyone team, named after the account (made unique)."""
    base = _username_base(account)
    for attempt in range(1, 50):
        username = base if attempt == 1 else f"{base}-{attempt}"
        if await users.find_by_username(session, username=username) is not None:
            continue
        user = User(
            username=username,
            display_name=account.name or username,
            email=account.email,
            password_hash=NO_PASSWORD,
        )
        try:
            async with session.begin_nested():  # a racing sign-in took the name
                session.add(user)
        except IntegrityError:
            continue
        await teams.join_everyone(session, user=user)
        body = users._event(user, "created")  # the user_created webhook, as users.create sends it
        await webhook_subscriptions.emit(session, event="user_created", body=body)
        return user
    raise AccountNotLinked("No free username for this account; ask an admin.")


def _username_base(account: ExternalAccount) -> str:
    for candidate in (account.preferred_username, (account.email or "").partition("@")[0]):
        cleaned = _USERNAME_CHARS.sub("-", candidate).strip("-.")[:100]
        if cleaned:
            return cleaned
    return "user-" + _USERNAME_CHARS.sub("-", account.subject)[:40]


async def _follow_groups(
    session: AsyncSession, provider: OidcProvider, user: User, groups: set[str]
) -> None:
    if provider.admin_groups:
        admin = bool(groups & set(provider.admin_groups))
        if admin and not user.is_admin:
            user.role = "admin"
        elif not admin and user.is_admin:
            await _demote(session, user)
    wanted = {team for group, team in provider.team_mapping.items() if group in groups}
    for name in sorted(set(provider.team_mapping.values())):
        await _keep_membership(session, user, name, member=name in wanted)


async def _demote(session: AsyncSession, user: User) -> None:
    others = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if not others:
        log.warning("kept %r an admin: they are the last active one", user.username)
        return
    user.role = "member"


async def _keep_membership(session: AsyncSession, user: User, name: str, *, member: bool) -> None:
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        if not member:
            return
        team = await teams.create(session, data=TeamCreate(name=name))
    membership = await session.scalar(
        select(TeamMembership).where(
            TeamMembership.team_id == team.id, TeamMembership.user_id == user.id
        )
    )
    if member and membership is None:
        await teams.add_member(session, team=team, user=user, role="member")
    elif not member and membership is not None:
        await teams.remove_member(session, team=team, user_id=user.id)
