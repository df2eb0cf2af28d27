"""Initial schema: users, clientes, gestion_sessions, audit_log (core/models.py).

Revision ID: 0001
Revises:
Create Date: 2026-11-27 21:15:03.959901
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('nombre', sa.String(length=120), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci'
    )
    op.create_table('clientes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nombre', sa.String(length=160), nullable=False),
    sa.Column('telefono', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=160), nullable=True),
    sa.Column('documento', sa.String(length=32), nullable=True),
    sa.Column('notas', sa.Text(), nullable=True),
    sa.Column('estado', sa.String(length=16), nullable=False),
    sa.Column('asesor_asignado', sa.Integer(), nullable=True),
    sa.Column('lock_token', sa.BigInteger(), nullable=False),
    sa.Column('current_session_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['asesor_asignado'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci'
    )
    with op.batch_alter_table('clientes', schema=None) as batch_op:
        batch_op.create_index('ix_clientes_estado_asesor', ['estado', 'asesor_asignado'],
                              unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cliente_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=32), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=True),
    sa.Column('at', sa.Double(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['cliente_id'], ['clientes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci'
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_cliente', ['cliente_id', 'id'], unique=False)

    op.create_table('gestion_sessions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('cliente_id', sa.Integer(), nullable=False),
    sa.Column('asesor_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.Double(), nullable=False),
    sa.Column('last_activity_at', sa.Double(), nullable=False),
    sa.Column('deadline_at', sa.Double(), nullable=False),
    sa.Column('ended_at', sa.Double(), nullable=True),
    sa.Column('resultado', sa.String(length=16), nullable=True),
    sa.Column('notas', sa.Text(), nullable=True),
    sa.Column('heartbeats', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asesor_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['cliente_id'], ['clientes.id'], ),
    sa.PrimaryKeyConstraint('id'),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_unicode_ci'
    )
    with op.batch_alter_table('gestion_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_asesor_status', ['asesor_id', 'status'], unique=False)
        batch_op.create_index('ix_sessions_cliente_status', ['cliente_id', 'status'], unique=False)
        batch_op.create_index('ix_sessions_started', ['started_at'], unique=False)
        batch_op.create_index('ix_sessions_status_deadline', ['status', 'deadline_at'],
                              unique=False)



def downgrade() -> None:
    # Dropping a table drops its indexes; dropping an index first fails on
    # MySQL when a foreign key still needs it.
    op.drop_table('gestion_sessions')
    op.drop_table('audit_log')
    op.drop_table('clientes')
    op.drop_table('users')
