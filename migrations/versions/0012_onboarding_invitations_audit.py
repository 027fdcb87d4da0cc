"""onboarding invitations audit

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 05:50:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import kernel.timeutil


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', kernel.timeutil.UTCDateTime(), nullable=False),
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

    # Onboarding: the application's extra facts and the alliance's decision.
    with op.batch_alter_table('cooperative') as batch:
        batch.add_column(sa.Column('main_products', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False, server_default=''))
        batch.add_column(sa.Column('applied_at', kernel.timeutil.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('decided_at', kernel.timeutil.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('decision_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True))
    with op.batch_alter_table('user_account') as batch:
        batch.add_column(sa.Column('is_coop_admin', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('member_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('recipient', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('invited_by', sa.Integer(), nullable=True),
    sa.Column('created_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.Column('expires_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.Column('accepted_at', kernel.timeutil.UTCDateTime(), nullable=True),
    sa.Column('accepted_user_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', kernel.timeutil.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['accepted_user_id'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperative.id'], ),
    sa.ForeignKeyConstraint(['invited_by'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_member_invitation_token_sha256'))
    )
    op.create_index(op.f('ix_member_invitation_cooperative_id'), 'member_invitation', ['cooperative_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_member_invitation_cooperative_id'), table_name='member_invitation')
    op.drop_table('member_invitation')
    with op.batch_alter_table('user_account') as batch:
        batch.drop_column('is_coop_admin')
    with op.batch_alter_table('cooperative') as batch:
        batch.drop_column('decision_reason')
        batch.drop_column('decided_at')
        batch.drop_column('applied_at')
        batch.drop_column('main_products')
    op.drop_index(op.f('ix_audit_entry_cooperative_id'), table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_action'), table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_actor_user_id'), table_name='audit_entry')
    op.drop_index(op.f('ix_audit_entry_at'), table_name='audit_entry')
    op.drop_table('audit_entry')
