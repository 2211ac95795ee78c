"""Decisions carry their next due date, indexed, so the deadline scan and ``decide overdue``
look only at decisions with work due soon (cost grows with open work, not with history).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_due_on", sa.Date(), nullable=True))
        batch_op.create_index("ix_decisions_next_due_on", ["next_due_on"], unique=False)
    # Existing decisions get their date at the next change; until then the scan falls back to
    # planning them (next_due_on IS NULL and not closed), so nothing is missed after an upgrade.


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_next_due_on")
        batch_op.drop_column("next_due_on")
