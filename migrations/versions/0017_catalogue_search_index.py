"""catalogue search from an index: trigram GIN on PostgreSQL, an FTS5 trigram table on SQLite

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 10:00:00
"""

from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# Kept in step with product.name_ascii by triggers; `rowid` is the product's id.
SQLITE_TRIGGERS = (
    "CREATE TRIGGER product_fts_insert AFTER INSERT ON product BEGIN "
    "INSERT INTO product_fts (rowid, name_ascii) VALUES (new.id, new.name_ascii); END",
    "CREATE TRIGGER product_fts_delete AFTER DELETE ON product BEGIN "
    "INSERT INTO product_fts (product_fts, rowid, name_ascii) VALUES ('delete', old.id, old.name_ascii); END",
    "CREATE TRIGGER product_fts_update AFTER UPDATE OF name_ascii ON product BEGIN "
    "INSERT INTO product_fts (product_fts, rowid, name_ascii) VALUES ('delete', old.id, old.name_ascii); "
    "INSERT INTO product_fts (rowid, name_ascii) VALUES (new.id, new.name_ascii); END",
)


def upgrade() -> None:
    op.create_index('ix_product_name_id', 'product', ['name', 'id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_product_name_trgm ON product USING gin (name_ascii gin_trgm_ops)")
    else:
        op.execute("CREATE VIRTUAL TABLE product_fts USING fts5(name_ascii, content='product', content_rowid='id', "
                   "tokenize='trigram')")
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute("INSERT INTO product_fts (product_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_product_name_trgm")
    else:
        for name in ("product_fts_insert", "product_fts_delete", "product_fts_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS product_fts")
    op.drop_index('ix_product_name_id', table_name='product')
