"""The next-due index also holds the decision id, so ``decide overdue`` reads the decisions in
due order (and counts them per level) from the index alone, without a table lookup per row.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_next_due_on")
        batch_op.create_index("ix_decisions_next_due_on", ["next_due_on", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_next_due_on")
        batch_op.create_index("ix_decisions_next_due_on", ["next_due_on"], unique=False)
