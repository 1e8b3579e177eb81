"""outbox: claiming messages for one sender and recording each send

Revision ID: 0006_outbox_claims
Revises: 0005_cohort_review
Create Date: 2026-12-02 01:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_outbox_claims'
down_revision = '0005_cohort_review'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): the columns this revision adds to outbound_email are
# copied with the row ids into archived_0006_outbound_email before they are dropped, and upgrading again puts
# them back. Only plain ALTER TABLE is used: rebuilding outbound_email on SQLite fails, as reminders refer to it.
# Each step checks what is there, so an interrupted step can simply be run again.
TABLE = 'outbound_email'
ARCHIVE = 'archived_0006_outbound_email'
COLUMNS = ('message_id', 'claimed_by', 'claimed_until', 'last_attempt_at')
MESSAGE_ID_INDEX = 'ix_outbound_email_message_id'


def _columns(table):
    inspector = sa.inspect(op.get_bind())
    return {c['name'] for c in inspector.get_columns(table)} if inspector.has_table(table) else None


def _indexes(table):
    return {index['name'] for index in sa.inspect(op.get_bind()).get_indexes(table)}


def upgrade():
    present = _columns(TABLE)
    if 'message_id' not in present:
        # NOT NULL needs a default for SQLite's ADD COLUMN; every row gets a real Message-ID below.
        op.add_column(TABLE, sa.Column('message_id', sa.String(length=250), nullable=False, server_default=''))
    if 'claimed_by' not in present:
        op.add_column(TABLE, sa.Column('claimed_by', sa.String(length=100), nullable=True))
    if 'claimed_until' not in present:
        op.add_column(TABLE, sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    if 'last_attempt_at' not in present:
        op.add_column(TABLE, sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True))

    if _columns(ARCHIVE) is not None:
        values = ', '.join(f'{column} = (SELECT a.{column} FROM {ARCHIVE} a WHERE a.id = {TABLE}.id)'
                           for column in COLUMNS)
        op.execute(f'UPDATE {TABLE} SET {values} WHERE id IN (SELECT id FROM {ARCHIVE})')
        op.drop_table(ARCHIVE)

    # Messages queued before this revision (or while it was downgraded) get a Message-ID of their own, kept for
    # every further try.
    op.execute(f"UPDATE {TABLE} SET message_id = '<pathways-outbox-' || id || '@pathways.london>' "
               "WHERE message_id = '' OR message_id IS NULL")
    if MESSAGE_ID_INDEX not in _indexes(TABLE):
        op.create_index(MESSAGE_ID_INDEX, TABLE, ['message_id'], unique=True)
    if op.get_bind().dialect.name != 'sqlite':
        # Pathways always sets the Message-ID; SQLite cannot drop a column default without rebuilding the table.
        op.alter_column(TABLE, 'message_id', existing_type=sa.String(length=250), server_default=None)


def downgrade():
    present = _columns(TABLE) or set()
    kept = [column for column in COLUMNS if column in present]
    if kept and _columns(ARCHIVE) is None:
        op.execute(f'CREATE TABLE {ARCHIVE} AS SELECT id, {", ".join(kept)} FROM {TABLE}')
    if MESSAGE_ID_INDEX in _indexes(TABLE):
        op.drop_index(MESSAGE_ID_INDEX, table_name=TABLE)
    for column in reversed(kept):
        op.drop_column(TABLE, column)
