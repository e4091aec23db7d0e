"""reservations' secondary indexes hold open reservations only

Every query of reservations other than by id asks for open ones (the lease sweep, a dead
process's release, the open list), so their indexes become partial (`WHERE state = 'open'`): a
settlement's new row version goes into the primary key alone instead of four indexes, and the
indexes stay as small as the calls in flight. The lease index no longer leads with `state`: on
PostgreSQL a settlement's `WHERE id = $1 AND state = 'open'` had been planned (a fresh table,
no statistics yet) as a scan of that index's `open` entries, live and dead, filtered by id.

Revision ID: billing_0003
Revises: billing_0002
Create Date: 2026-12-05 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "billing_0003"
down_revision: str | Sequence[str] | None = "billing_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "billing_reservation"
OPEN = {"postgresql_where": sa.text("state = 'open'"), "sqlite_where": sa.text("state = 'open'")}


def upgrade() -> None:
    op.drop_index("ix_billing_reservation_open_lease", table_name=TABLE)
    op.drop_index("ix_billing_reservation_user_id", table_name=TABLE)
    op.drop_index("ix_billing_reservation_process_id", table_name=TABLE)
    op.create_index("ix_billing_reservation_open_lease", TABLE, ["lease_expires_at"], **OPEN)
    op.create_index("ix_billing_reservation_open_user", TABLE, ["user_id"], **OPEN)
    op.create_index("ix_billing_reservation_open_process", TABLE, ["process_id"], **OPEN)


def downgrade() -> None:
    op.drop_index("ix_billing_reservation_open_process", table_name=TABLE)
    op.drop_index("ix_billing_reservation_open_user", table_name=TABLE)
    op.drop_index("ix_billing_reservation_open_lease", table_name=TABLE)
    op.create_index("ix_billing_reservation_process_id", TABLE, ["process_id"])
    op.create_index("ix_billing_reservation_user_id", TABLE, ["user_id"])
    op.create_index("ix_billing_reservation_open_lease", TABLE, ["state", "lease_expires_at"])
