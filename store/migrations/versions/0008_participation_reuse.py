"""Public participation by method, reused results, co-sponsors (SPEC §2, issue 12).

Each step attempt keeps, as JSON in ``details``, what only some attempts have: the participation
methods used and the comment notice's published deadline (Decree 713 Arts. 14-15), the hearing
held (Arts. 16-17), and for a result kept after a return (沿用前次结果) the attempt it comes from
and the sponsor's reason.  Each decision keeps its co-sponsor units (Art. 11) beside the lead
sponsor.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details", sa.Text(), nullable=False, server_default="{}"))
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("co_sponsors", sa.Text(), nullable=False, server_default="[]")
        )
    # Attempts from before this revision used no recorded method (their definitions have none)
    # and reused nothing; decisions had a sponsor only.


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("co_sponsors")
    with op.batch_alter_table("step_attempts", schema=None) as batch_op:
        batch_op.drop_column("details")
