"""transparency log at scale: chain heads, stored Merkle tiles, verified-through marks

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chainhead',
        sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
        sa.Column('lot', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint('gtin', 'lot', name=op.f('pk_chainhead')),
    )
    op.create_table(
        'logtile',
        sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('hashes', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_logtile')),
    )
    op.create_table(
        'verifiedmark',
        sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=False),
        sa.Column('lot', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('through_seq', sa.Integer(), nullable=False),
        sa.Column('tree_size', sa.BigInteger(), nullable=False),
        sa.Column('root_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('mac', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('gtin', 'lot', name=op.f('pk_verifiedmark')),
    )
    # Every batch's head is its record with the highest sequence number.
    op.execute(
        "INSERT INTO chainhead (gtin, lot, seq, sha256) "
        "SELECT c.gtin, c.lot, c.seq, c.sha256 FROM credential c "
        "WHERE c.seq = (SELECT max(d.seq) FROM credential d WHERE d.gtin = c.gtin AND d.lot = c.lot)"
    )
    _build_tiles()


def _build_tiles() -> None:
    """The tiles of the tree the latest checkpoint signed, from the stored leaves, in one pass."""
    from traceability import tiles

    bind = op.get_bind()
    size = bind.execute(sa.text("SELECT max(tree_size) FROM checkpoint")).scalar() or 0
    if not size:
        return
    table = sa.table('logtile', sa.column('level'), sa.column('index'), sa.column('width'), sa.column('hashes'))
    grown, done = {}, 0
    result = bind.execution_options(yield_per=10_000).execute(
        sa.text('SELECT leaf_hash FROM logentry WHERE "index" < :size ORDER BY "index"'), {"size": size})
    for chunk in result.partitions(tiles.WIDTH * 40):
        leaves = [bytes.fromhex(row[0]) for row in chunk]
        edges = tiles.TileSet({key: grown[key] for key in tiles.edge_tiles(done) if key in grown})
        changed = tiles.grow(edges, done, leaves)
        done += len(leaves)
        grown.update(changed)
        full = {k: v for k, v in grown.items() if v[0] == tiles.WIDTH}
        if full:
            op.bulk_insert(table, [{"level": l, "index": i, "width": w, "hashes": h} for (l, i), (w, h) in full.items()])
            for key in full:
                del grown[key]
    if done != size:
        raise RuntimeError(f"the log holds {done} entries below its latest checkpoint's size {size}")
    if grown:
        op.bulk_insert(table, [{"level": l, "index": i, "width": w, "hashes": h} for (l, i), (w, h) in grown.items()])


def downgrade() -> None:
    op.drop_table('verifiedmark')
    op.drop_table('logtile')
    op.drop_table('chainhead')
