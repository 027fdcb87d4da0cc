"""tariff versions

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 05:50:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import kernel.timeutil


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Version 1 of the tariff, frozen here as it was first published: a later change to the code's
# DEFAULT_TARIFF must not change what this migration wrote.
FIRST_RATES = {
    "zones": {
        "intra_province": {"first_500g": 18000, "each_500g": 3000},
        "intra_region": {"first_500g": 28000, "each_500g": 5000},
        "inter_region": {"first_500g": 35000, "each_500g": 7000},
    },
    "volumetric_divisor": 6000,
    "cod_percent": "1",
    "cod_minimum_vnd": 10000,
    "remote_surcharge_vnd": 10000,
    # Island special zones (đặc khu) reached by boat.
    "remote_wards": [6994, 7192, 11914, 11948, 19742, 21548, 23272, 26732, 31078, 31105, 31108],
    "vat_percent": "8",
    "regions": {
        "north": [1, 4, 8, 11, 12, 14, 15, 19, 20, 22, 24, 25, 31, 33, 37],
        "central": [38, 40, 42, 44, 46, 48, 51, 52, 56, 66, 68],
        "south": [75, 79, 80, 82, 86, 91, 92, 96],
    },
}


def upgrade() -> None:
    tariff_version = op.create_table('tariff_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rates', sa.JSON(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_user_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['user_account.id'], name=op.f('fk_tariff_version_created_by_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariff_version')),
    sa.UniqueConstraint('version', name=op.f('uq_tariff_version_version'))
    )
    from datetime import datetime, timezone

    op.bulk_insert(tariff_version, [{
        "version": 1, "rates": FIRST_RATES, "note": "Biểu giá cước ban đầu", "created_by": "system",
        "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
    }])


def downgrade() -> None:
    op.drop_table('tariff_version')
