"""registry

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 05:50:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import kernel.timeutil


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registry_pending_import',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_registry_pending_import_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_pending_import'))
    )
    op.create_index(op.f('ix_registry_pending_import_user_id'), 'registry_pending_import', ['user_id'], unique=False)
    op.create_index(op.f('ix_registry_pending_import_created_at'), 'registry_pending_import', ['created_at'], unique=False)
    op.create_table('registry_profile',
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('sector', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('founded_on', sa.Date(), nullable=True),
    sa.Column('member_count', sa.Integer(), nullable=True),
    sa.Column('charter_capital_vnd', sa.BigInteger(), nullable=True),
    sa.Column('union_id', sa.Integer(), nullable=True),
    sa.Column('certifications', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('survey_notes', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('updated_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.CheckConstraint('member_count IS NULL OR member_count >= 0', name=op.f('ck_registry_profile_members_not_negative')),
    sa.CheckConstraint('charter_capital_vnd IS NULL OR charter_capital_vnd >= 0', name=op.f('ck_registry_profile_capital_not_negative')),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperative.id'], name=op.f('fk_registry_profile_cooperative_id_cooperative')),
    sa.ForeignKeyConstraint(['union_id'], ['cooperative.id'], name=op.f('fk_registry_profile_union_id_cooperative')),
    sa.PrimaryKeyConstraint('cooperative_id', name=op.f('pk_registry_profile'))
    )
    op.create_index(op.f('ix_registry_profile_sector'), 'registry_profile', ['sector'], unique=False)
    op.create_index(op.f('ix_registry_profile_union_id'), 'registry_profile', ['union_id'], unique=False)
    op.create_table('registry_ocop_product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.CheckConstraint('stars BETWEEN 3 AND 5', name=op.f('ck_registry_ocop_product_stars_range')),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperative.id'], name=op.f('fk_registry_ocop_product_cooperative_id_cooperative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registry_ocop_product'))
    )
    op.create_index(op.f('ix_registry_ocop_product_cooperative_id'), 'registry_ocop_product', ['cooperative_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_registry_ocop_product_cooperative_id'), table_name='registry_ocop_product')
    op.drop_table('registry_ocop_product')
    op.drop_index(op.f('ix_registry_profile_union_id'), table_name='registry_profile')
    op.drop_index(op.f('ix_registry_profile_sector'), table_name='registry_profile')
    op.drop_table('registry_profile')
    op.drop_index(op.f('ix_registry_pending_import_created_at'), table_name='registry_pending_import')
    op.drop_index(op.f('ix_registry_pending_import_user_id'), table_name='registry_pending_import')
    op.drop_table('registry_pending_import')
