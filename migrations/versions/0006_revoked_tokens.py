"""revoked_tokens: a logout revokes that one token (its jti claim).

A password change or deactivation still bumps users.token_version (every token
of the user); a logout inserts the token's jti here, so the user's other
screens stay logged in. Rows are purged once the token has expired anyway.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'revoked_tokens',
        sa.Column('jti', sa.String(length=32), primary_key=True),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.Double(), nullable=False),
        mysql_charset='utf8mb4', mysql_collate='utf8mb4_unicode_ci',
    )
    op.create_index('ix_revoked_tokens_user_id', 'revoked_tokens', ['user_id'])
    op.create_index('ix_revoked_tokens_expires_at', 'revoked_tokens', ['expires_at'])


def downgrade() -> None:
    op.drop_table('revoked_tokens')
