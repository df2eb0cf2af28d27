"""Event log for ordered, resumable pushes: event_log and event_counter (its one row).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('event_log',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False,
              nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('cliente_id', sa.Integer(), nullable=True),
    sa.Column('rooms', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci'
    )
    with op.batch_alter_table('event_log', schema=None) as batch_op:
        batch_op.create_index('ix_event_log_at', ['at'], unique=False)

    counter = op.create_table('event_counter',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one row every transition increments (core/eventlog.py, COUNTER_ID).
    op.bulk_insert(counter, [{'id': 1, 'seq': 0}])


def downgrade() -> None:
    op.drop_table('event_counter')
    op.drop_table('event_log')
