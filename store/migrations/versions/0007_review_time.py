"""The legality review's time binds the submitter (Decree 713 Art. 26): each step attempt keeps
the response date the submitter asked for (``respond_by``), and whether it closed on a minimum
end computed without the official holiday schedule (``close_provisional``, SPEC §3).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("step_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("respond_by", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("close_provisional", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Attempts from before this revision asked for no response date (the guaranteed end applies)
    # and were not recorded as closed provisionally.


def downgrade() -> None:
    with op.batch_alter_table("step_attempts", schema=None) as batch_op:
        batch_op.drop_column("close_provisional")
        batch_op.drop_column("respond_by")
