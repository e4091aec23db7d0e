"""jobs: ordered actions (a job's type and params become its one action), start/end dates,
drafts, sharing; runs keep each step's record

Revision ID: knowledge_0002
Revises: knowledge_0001
Create Date: 2026-12-05 10:10:00.000000

Columns are added and dropped in place, never by copying the table: on SQLite a copy would drop
`knowledge_job`, and with foreign keys on that deletes every run in `knowledge_job_run` with it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "knowledge_0002"
down_revision: str | Sequence[str] | None = "knowledge_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_jobs = sa.table(
    "knowledge_job",
    sa.column("id", sa.String),
    sa.column("job_type", sa.String),
    sa.column("params", sa.JSON),
    sa.column("actions", sa.JSON),
)


def _add_reference(column: str, target: str, ondelete: str) -> None:
    """A nullable column referring to `target.id` (on SQLite in place: ADD COLUMN REFERENCES)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"ALTER TABLE knowledge_job ADD COLUMN {column} VARCHAR(26) "
            f"REFERENCES {target} (id) ON DELETE {ondelete}"
        )
    else:
        op.add_column("knowledge_job", sa.Column(column, sa.String(length=26), nullable=True))
        op.create_foreign_key(
            op.f(f"fk_knowledge_job_{column}_{target}"),
            "knowledge_job",
            target,
            [column],
            ["id"],
            ondelete=ondelete,
        )
    op.create_index(op.f(f"ix_knowledge_job_{column}"), "knowledge_job", [column])


def upgrade() -> None:
    add = op.add_column
    add("knowledge_job", sa.Column("actions", sa.JSON(), nullable=False, server_default="[]"))
    add("knowledge_job", sa.Column("start_at", sa.DateTime(timezone=True), nullable=True))
    add("knowledge_job", sa.Column("end_at", sa.DateTime(timezone=True), nullable=True))
    add(
        "knowledge_job",
        sa.Column("visibility", sa.String(length=20), nullable=False, server_default="private"),
    )
    add(
        "knowledge_job",
        sa.Column("permission", sa.String(length=20), nullable=False, server_default="use"),
    )
    _add_reference("editing_id", "knowledge_job", "CASCADE")
    _add_reference("team_id", "core_team", "SET NULL")
    add("knowledge_job_run", sa.Column("steps", sa.JSON(), nullable=False, server_default="[]"))

    bind = op.get_bind()
    for job_id, job_type, params in bind.execute(
        sa.select(_jobs.c.id, _jobs.c.job_type, _jobs.c.params)
    ).all():
        action = {"type": job_type, "condition": "always", "params": params or {}}
        bind.execute(_jobs.update().where(_jobs.c.id == job_id).values(actions=[action]))
    op.drop_column("knowledge_job", "job_type")
    op.drop_column("knowledge_job", "params")


def downgrade() -> None:
    op.add_column("knowledge_job", sa.Column("params", sa.JSON(), nullable=True))
    op.add_column("knowledge_job", sa.Column("job_type", sa.String(length=40), nullable=True))
    bind = op.get_bind()
    for job_id, actions in bind.execute(sa.select(_jobs.c.id, _jobs.c.actions)).all():
        first = (actions or [{}])[0]
        bind.execute(
            _jobs.update()
            .where(_jobs.c.id == job_id)
            .values(job_type=first.get("type", "index-files"), params=first.get("params", {}))
        )
    op.drop_column("knowledge_job_run", "steps")
    for column, target in (("team_id", "core_team"), ("editing_id", "knowledge_job")):
        op.drop_index(op.f(f"ix_knowledge_job_{column}"), table_name="knowledge_job")
        if bind.dialect.name != "sqlite":
            name = op.f(f"fk_knowledge_job_{column}_{target}")
            op.drop_constraint(name, "knowledge_job", type_="foreignkey")
            op.drop_column("knowledge_job", column)
        # SQLite cannot drop a column that refers to another table in place; it stays, unused
    for column in ("permission", "visibility", "end_at", "start_at", "actions"):
        op.drop_column("knowledge_job", column)
