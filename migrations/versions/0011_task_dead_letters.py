"""task dead letters

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 05:50:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes
import kernel.timeutil


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('task_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('task_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('task_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kwargs', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('first_failed_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_failed_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('retried_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_failure')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_task_failure_fingerprint'))
    )
    with op.batch_alter_table('task_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_failure_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_failure_task_name'), ['task_name'], unique=False)

    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('done_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('next_run_at', kernel.timeutil.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outboxmessage', schema=None) as batch_op:
        batch_op.drop_column('next_run_at')
        batch_op.drop_column('done_at')
        batch_op.drop_column('started_at')

    with op.batch_alter_table('task_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_failure_task_name'))
        batch_op.drop_index(batch_op.f('ix_task_failure_status'))

    op.drop_table('task_failure')
