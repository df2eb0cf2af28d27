"""gestion_sessions.from_pool: a session taken from the shared pool (the
visibility rule lets every advisor see such a client while it lives).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('gestion_sessions') as batch:
        batch.add_column(sa.Column('from_pool', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('gestion_sessions') as batch:
        batch.drop_column('from_pool')
