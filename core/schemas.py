"""Create/Update/Read shapes of identity objects, camelCase on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Role = Literal["admin", "member"]


class Schema(BaseModel):
    """Base of every API shape: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", from_attributes=True
    )


class LoginRequest(Schema):
    """Credentials for POST /api/auth/login."""

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
    # The authenticator's code (or a recovery code) of a user with two-factor sign-in, when a
    # client sends it with the password rather than in a second step.
    code: str | None = Field(default=None, min_length=1, max_length=64)


class UserCreate(Schema):
    """A new user."""

    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@-]+$")
    # Length, common passwords and control characters: `core.password_policy`, with its own codes.
    password: str = Field(min_length=1, max_length=1024)
    display_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: Role = "member"


class UserUpdate(Schema):
    """Changes to a user; omitted fields stay. A new password ends the user's sessions and revokes
    their API tokens unless `keepApiTokens` is true."""

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    keep_api_tokens: bool = False
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    role: Role | None = None
    active: bool | None = None


class PasswordChange(Schema):
    """A user's change of their own password (POST /api/me/password)."""

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)
    keep_api_tokens: bool = False


class UserRead(Schema):
    """A user as the API shows it (never the password hash)."""

    id: str
    username: str
    display_name: str
    email: str | None
    role: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    last_login_method: str | None = None


class UserListed(UserRead):
    """A user in an admin's list: also when and how they last signed in, API token use
    included (`lastSignInMethod`: `password`, `oidc` or `token`)."""

    last_sign_in_at: datetime | None = None
    last_sign_in_method: str | None = None


class TeamCreate(Schema):
    """A new team."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)


class TeamUpdate(Schema):
    """Changes to a team."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class TeamRead(Schema):
    """A team."""

    id: str
    name: str
    description: str
    created_at: datetime


class MemberAdd(Schema):
    """A user to add to a team."""

    user_id: str = Field(min_length=1, max_length=26)
    role: Literal["owner", "member"] = "member"


class MemberRead(Schema):
    """A team member."""

    user_id: str
    username: str
    display_name: str
    role: str
    created_at: datetime


class ApiTokenCreate(Schema):
    """A new API token."""

    name: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None


class ApiTokenRead(Schema):
    """An API token as listed (never the secret)."""

    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class AuditEventRead(Schema):
    """An audit log entry (`core.audit`)."""

    id: str
    at: datetime
    kind: str
    outcome: str
    actor_id: str | None
    subject_type: str | None
    subject_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]
    count: int = Field(1, description="How many refusals this event stands for (coalesced).")
    last_at: datetime | None = Field(None, description="When the last of them happened.")


class LoginSessionRead(Schema):
    """One of your sign-in sessions (`current`: the one making this request)."""

    id: str
    created_at: datetime
    expires_at: datetime
    current: bool = False


class TwoFactorCode(Schema):
    """A code from the authenticator app (or, where allowed, a recovery code)."""

    code: str = Field(min_length=1, max_length=64)


class TwoFactorSignIn(Schema):
    """The second step of a sign-in: the pending token the first step returned, and a code."""

    pending_token: str = Field(min_length=1, max_length=2000)
    code: str = Field(min_length=1, max_length=64)


class TwoFactorEnrolStart(Schema):
    """Start enrolling at sign-in (two-factor required, not yet enrolled): the pending token."""

    pending_token: str = Field(min_length=1, max_length=2000)


class TwoFactorOff(Schema):
    """Turning two-factor off: a current code (or recovery code), or your password."""

    code: str | None = Field(default=None, min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=1, max_length=1024)
