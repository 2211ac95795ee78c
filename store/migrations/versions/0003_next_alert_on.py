"""Decisions carry the first day the deadline scan could raise a new alert level for them, so a
daily scan plans only the decisions that reach a level that day (or changed since the last
scan), not every decision with something due within the horizon.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_alert_on", sa.Date(), nullable=True))
        batch_op.create_index(
            "ix_decisions_next_alert_on", ["next_alert_on", "next_due_on"], unique=False
        )
    # NULL means "not known": the next scan plans every such decision with something due within
    # its horizon and records the date, so nothing is missed after an upgrade.


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_next_alert_on")
        batch_op.drop_column("next_alert_on")
