"""clientes (estado, asesor_asignado) becomes (estado, asesor_asignado,
current_session_id): the sweep's orphan check (core/sweep.py) then reads the
locked clients from the index alone instead of scanning the table every
WORKER_INTERVAL, and every query the old index served still has its prefix.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 07:30:00
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OLD = ('ix_clientes_estado_asesor', ['estado', 'asesor_asignado'])
NEW = ('ix_clientes_estado_asesor_session', ['estado', 'asesor_asignado', 'current_session_id'])


def upgrade() -> None:
    # create first: MySQL may lean on the old index for the asesor_asignado
    # foreign key until another index can serve it
    op.create_index(NEW[0], 'clientes', NEW[1])
    op.drop_index(OLD[0], table_name='clientes')


def downgrade() -> None:
    op.create_index(OLD[0], 'clientes', OLD[1])
    op.drop_index(NEW[0], table_name='clientes')
