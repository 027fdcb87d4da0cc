"""order records the tariff version that priced its postage, and the buyer's language

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 06:58:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shipping_tariff_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('shipping_quote_source', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False,
                                      server_default='vi'))


def downgrade() -> None:
    with op.batch_alter_table('customer_order', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('shipping_quote_source')
        batch_op.drop_column('shipping_tariff_version')
