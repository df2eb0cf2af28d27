"""clientes indexes for the GTR desk: columns in waiting order
(estado, updated_at), prefix search on nombre / telefono / documento, and
duplicate checks of a CSV import (telefono, documento), so a search or a
column page stays an index range read at 100,000 clients.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:30:00
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_clientes_estado_updated': ['estado', 'updated_at'],
    'ix_clientes_nombre': ['nombre'],
    'ix_clientes_telefono': ['telefono'],
    'ix_clientes_documento': ['documento'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'clientes', columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='clientes')
