"""scheduler: a lease with a heartbeat and a fencing token

Revision ID: 0007_scheduler_lease
Revises: 0006_outbox_claims
Create Date: 2026-12-02 01:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_scheduler_lease'
down_revision = '0006_outbox_claims'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): the lease table is renamed archived_0007_scheduler_lease,
# and job_run.lease_token is copied with the run ids into archived_0007_job_run before it is dropped. Upgrading
# again restores both. Each step checks what is there, so an interrupted step can be run again.
ARCHIVE = 'archived_0007_'


def _columns(table):
    inspector = sa.inspect(op.get_bind())
    return {c['name'] for c in inspector.get_columns(table)} if inspector.has_table(table) else None


def upgrade():
    if _columns('scheduler_lease') is None:
        if _columns(ARCHIVE + 'scheduler_lease') is not None:
            op.rename_table(ARCHIVE + 'scheduler_lease', 'scheduler_lease')
        else:
            op.create_table('scheduler_lease',
            sa.Column('name', sa.String(length=60), nullable=False),
            sa.Column('holder', sa.String(length=200), nullable=False),
            sa.Column('token', sa.BigInteger(), nullable=False),
            sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_lease'))
            )
    if 'lease_token' not in _columns('job_run'):
        op.add_column('job_run', sa.Column('lease_token', sa.BigInteger(), nullable=True))
    if _columns(ARCHIVE + 'job_run') is not None:
        op.execute(f'UPDATE job_run SET lease_token = (SELECT a.lease_token FROM {ARCHIVE}job_run a '
                   f'WHERE a.id = job_run.id) WHERE id IN (SELECT id FROM {ARCHIVE}job_run)')
        op.drop_table(ARCHIVE + 'job_run')


def downgrade():
    if 'lease_token' in (_columns('job_run') or ()):
        if _columns(ARCHIVE + 'job_run') is None:
            op.execute(f'CREATE TABLE {ARCHIVE}job_run AS SELECT id, lease_token FROM job_run')
        # Plain ALTER TABLE, also on SQLite (3.35+), as in the revisions before.
        op.drop_column('job_run', 'lease_token')
    if _columns('scheduler_lease') is not None:
        op.rename_table('scheduler_lease', ARCHIVE + 'scheduler_lease')
