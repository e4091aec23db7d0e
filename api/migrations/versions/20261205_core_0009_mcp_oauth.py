"""MCP clients' OAuth: registered clients, authorization requests and codes, grants, tokens

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-12-05 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "core_0009"
down_revision: str | Sequence[str] | None = "core_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def _id() -> sa.Column[str]:
    return sa.Column("id", sa.String(length=26), nullable=False)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def _index(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "core_oauth_client",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("client_uri", sa.String(length=2000), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("approved_by", sa.String(length=26), nullable=True),
        _id(),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        _fk("core_oauth_client", "approved_by", "core_user", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_oauth_client")),
    )
    op.create_table(
        "core_oauth_authorization",
        sa.Column("client_id", sa.String(length=26), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=2000), nullable=False),
        sa.Column("state", sa.String(length=1000), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", _WHEN, nullable=True),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.Column("grant_id", sa.String(length=26), nullable=True),
        _id(),
        _fk("core_oauth_authorization", "client_id", "core_oauth_client", "CASCADE"),
        _fk("core_oauth_authorization", "user_id", "core_user", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_oauth_authorization")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_core_oauth_authorization_code_hash")),
    )
    _index("core_oauth_authorization", "client_id")
    op.create_table(
        "core_oauth_grant",
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("client_id", sa.String(length=26), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("resource", sa.String(length=2000), nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.Column("last_used_at", _WHEN, nullable=True),
        _id(),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        _fk("core_oauth_grant", "user_id", "core_user", "CASCADE"),
        _fk("core_oauth_grant", "client_id", "core_oauth_client", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_oauth_grant")),
    )
    _index("core_oauth_grant", "user_id")
    _index("core_oauth_grant", "client_id")
    op.create_table(
        "core_oauth_token",
        sa.Column("grant_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        _id(),
        _fk("core_oauth_token", "grant_id", "core_oauth_grant", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_oauth_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_oauth_token_token_hash")),
    )
    _index("core_oauth_token", "grant_id")


def downgrade() -> None:
    for table in (
        "core_oauth_token",
        "core_oauth_grant",
        "core_oauth_authorization",
        "core_oauth_client",
    ):
        op.drop_table(table)
