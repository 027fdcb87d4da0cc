"""classification

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 05:50:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import kernel.timeutil


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


# Shipments whose cash on delivery is still owed (the same text as shop.insight.models.COD_OPEN,
# copied: a migration must not change when the models do).
COD_OPEN = ("cod_amount_vnd > 0 AND (cod_collected_vnd IS NULL OR cod_remitted_vnd IS NULL "
            "OR cod_remitted_vnd < cod_collected_vnd)")
INDEXES = (
    # (name, table, columns): what the dashboard's and the classification's aggregates read through.
    ("ix_insight_order_period", "customer_order", ["created_at", "status", "cooperative_id", "goods_total_vnd", "id"]),
    ("ix_insight_scanday_day", "scanday", ["day", "count"]),
    ("ix_insight_orderline_sales", "orderline", ["order_id", "product_id", "quantity", "line_total_vnd"]),
    ("ix_insight_shipment_period", "shipment", ["created_at", "status"]),
    ("ix_insight_shipment_updated", "shipment", ["updated_at", "created_at"]),
    ("ix_insight_orderstatus_to", "orderstatuschange", ["to_status", "order_id", "at"]),
    ("ix_insight_orderstatus_at", "orderstatuschange", ["at", "order_id"]),
    ("ix_insight_credential_batch", "credential", ["gtin", "lot", "event_type"]),
    ("ix_insight_problemreport_created", "problemreport", ["created_at"]),
    ("ix_insight_batch_created", "batch", ["created_at"]),
    ("ix_insight_recall_at", "recall", ["recalled_at"]),
)


def upgrade() -> None:
    op.create_table('survey_finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('survey_date', sa.Date(), nullable=False),
    sa.Column('surveyor', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('findings', sa.Text(), nullable=False),
    sa.Column('assessed_class', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('created_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperative.id'], name=op.f('fk_survey_finding_cooperative_id_cooperative')),
    sa.ForeignKeyConstraint(['recorded_by'], ['user_account.id'], name=op.f('fk_survey_finding_recorded_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_finding'))
    )
    op.create_index(op.f('ix_survey_finding_cooperative_id'), 'survey_finding', ['cooperative_id'], unique=False)
    op.create_table('scan_day_total',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('rolled_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_scan_day_total'))
    )
    op.create_table('order_day_total',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('revenue_vnd', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'cooperative_id', name=op.f('pk_order_day_total'))
    )
    op.create_table('order_month_total',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('revenue_vnd', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'cooperative_id', name=op.f('pk_order_month_total'))
    )
    op.create_table('category_day_total',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('lines', sa.Integer(), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('revenue_vnd', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'category', name=op.f('pk_category_day_total'))
    )
    op.create_table('shipment_day_total',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('shipments', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'status', name=op.f('pk_shipment_day_total'))
    )
    op.create_table('roll_up_mark',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('through_day', sa.Date(), nullable=False),
    sa.Column('rolled_at', kernel.timeutil.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_roll_up_mark'))
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.create_index('ix_insight_shipment_cod_open', 'shipment', ['status'], unique=False,
                    postgresql_where=sa.text(COD_OPEN), sqlite_where=sa.text(COD_OPEN))


def downgrade() -> None:
    op.drop_index('ix_insight_shipment_cod_open', table_name='shipment')
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index(op.f('ix_survey_finding_cooperative_id'), table_name='survey_finding')
    op.drop_table('roll_up_mark')
    op.drop_table('shipment_day_total')
    op.drop_table('category_day_total')
    op.drop_table('order_month_total')
    op.drop_table('order_day_total')
    op.drop_table('scan_day_total')
    op.drop_table('survey_finding')
