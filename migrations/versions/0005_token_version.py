"""users.token_version and users.token_salt: token revocation.

A token carries both; every request and socket command compares them with the
user's row. `token_version` is bumped by a password change, a deactivation and
a logout (every older token of that user is refused); `token_salt` is random
per user row, so a new user who gets a recycled id (SQLite reuses the highest
deleted id) cannot use a deleted user's token.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:20:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('token_version', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('token_salt', sa.String(length=32), nullable=False,
                                   server_default=''))
    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('token_salt', sa.String))
    for (uid,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(users.update().where(users.c.id == uid)
                     .values(token_salt=secrets.token_hex(16)))


def downgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.drop_column('token_salt')
        batch.drop_column('token_version')
