"""The to-do index (``store.todo``): one row per step someone may act on now, per unit it may
concern, so that a to-do list reads a page of it instead of planning every decision.

Existing decisions are indexed here: each one not closed is planned under its pinned definition
with the stored calendar (``store.todo.rebuild``); one without a pinned definition gets its rows
when ``decide procedures migrate`` pins it.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "todo",
        sa.Column(
            "decision_id", sa.String(length=32), sa.ForeignKey("decisions.id"), nullable=False
        ),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("order_on", sa.Date(), nullable=False),
        sa.Column("due_basis", sa.String(length=32), nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", "step", "unit"),
    )
    op.create_index("ix_todo_role", "todo", ["unit", "role", "order_on", "decision_id", "step"])
    op.create_index("ix_todo_status", "todo", ["unit", "status", "order_on", "decision_id", "step"])
    from store.todo import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_todo_status", table_name="todo")
    op.drop_index("ix_todo_role", table_name="todo")
    op.drop_table("todo")
