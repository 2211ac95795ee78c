"""Accounts, API tokens and assignments (issue 13): every recorded act an authenticated one.

``accounts`` holds each login with the name the audit shows, its unit, its roles and its
Argon2id password hash; ``tokens`` holds API tokens by SHA-256 only, with their expiry and
revocation (times as ISO 8601 UTC text, as the audit log keeps them); ``decisions.assignments`` the units assigned to a role on a decision (the risk
assessor, the experts), who may then act on it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("login", sa.String(length=64), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.String(length=40), nullable=True),
    )
    op.create_table(
        "tokens",
        sa.Column("sha256", sa.String(length=64), primary_key=True),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.Column("expires_at", sa.String(length=40), nullable=False),
        sa.Column("revoked_at", sa.String(length=40), nullable=True),
    )
    op.create_index("ix_tokens_login", "tokens", ["login"])
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assignments", sa.Text(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("assignments")
    op.drop_index("ix_tokens_login", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("accounts")
