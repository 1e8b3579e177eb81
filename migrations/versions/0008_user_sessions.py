"""sessions: a server-side record of each signed-in session

Revision ID: 0008_user_sessions
Revises: 0007_scheduler_lease
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_user_sessions'
down_revision = '0007_scheduler_lease'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): the table is renamed archived_0008_user_session, and
# upgrading again renames it back. Each step checks what is there, so an interrupted step can be run again.
# Cookies signed before this revision carry no session key: everyone signs in again once after upgrading.
ARCHIVE = 'archived_0008_'


def _has_table(table):
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade():
    if _has_table('user_session'):
        return
    if _has_table(ARCHIVE + 'user_session'):
        op.rename_table(ARCHIVE + 'user_session', 'user_session')
        return
    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.Enum('signed_out', 'signed_out_elsewhere', 'password_changed', 'superseded',
                                      'expired', 'idle', name='sessionend', native_enum=False, length=30),
              nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_user_session_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('key_digest', name=op.f('uq_user_session_key_digest'))
    )
    op.create_index(op.f('ix_user_session_person_id'), 'user_session', ['person_id'], unique=False)
    op.create_index('ix_user_session_expires_at', 'user_session', ['expires_at'], unique=False)


def downgrade():
    if _has_table('user_session'):
        op.rename_table('user_session', ARCHIVE + 'user_session')
