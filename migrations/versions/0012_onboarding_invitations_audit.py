"""onboarding invitations audit

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 05:50:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import shop.timeutil


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', shop.timeutil.UTCDateTime(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_entry_at'), 'audit_entry', ['at'], unique=False)
    op.create_index(op.f('ix_audit_entry_actor_user_id'), 'audit_entry', ['actor_user_id'], unique=False)
    op.create_index(op.f('ix_audit_entry_action'), 'audit_entry', ['action'], unique=False)
    op.create_index(op.f('ix_audit_entry_cooperative_id'), 'audit_entry', ['cooperative_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_entry_cooperative_id'), table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_action'), table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_actor_user_id'), table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_at'), table_name='audit_entry')
    op.drop_table('audit_entry')
