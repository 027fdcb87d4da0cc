"""postal portal: no schema change

The partner portal (pick-up groups, shipping labels, the scan counter) works on the existing
shipment tables. The revision is kept so that the revision ids stay as they were allocated.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 05:50:00
"""

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
