"""multi-factor sign-in: authenticator apps and recovery codes

Revision ID: 0009_multi_factor
Revises: 0008_user_sessions
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_multi_factor'
down_revision = '0008_user_sessions'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): the two tables are renamed archived_0009_<table>, and
# upgrading again renames them back. Each step checks what is there, so an interrupted step can be run again.
ARCHIVE = 'archived_0009_'


def _has_table(table):
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade():
    if not _has_table('second_factor'):
        if _has_table(ARCHIVE + 'second_factor'):
            op.rename_table(ARCHIVE + 'second_factor', 'second_factor')
        else:
            op.create_table('second_factor',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('person_id', sa.Integer(), nullable=False),
            sa.Column('sealed_secret', sa.String(length=200), nullable=False),
            sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
            sa.Column('last_used_step', sa.BigInteger(), nullable=True),
            sa.Column('wrong_codes', sa.Integer(), nullable=False),
            sa.Column('failures_since', sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_second_factor_person_id_person')),
            sa.PrimaryKeyConstraint('id', name=op.f('pk_second_factor')),
            sa.UniqueConstraint('person_id', name=op.f('uq_second_factor_person_id'))
            )
    if not _has_table('recovery_code'):
        if _has_table(ARCHIVE + 'recovery_code'):
            op.rename_table(ARCHIVE + 'recovery_code', 'recovery_code')
        else:
            op.create_table('recovery_code',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('second_factor_id', sa.Integer(), nullable=False),
            sa.Column('code_hash', sa.String(length=255), nullable=False),
            sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(['second_factor_id'], ['second_factor.id'],
                                    name=op.f('fk_recovery_code_second_factor_id_second_factor'), ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
            )
            op.create_index(op.f('ix_recovery_code_second_factor_id'), 'recovery_code', ['second_factor_id'],
                            unique=False)


def downgrade():
    # The recovery codes first: their table refers to second_factor's.
    for table in ('recovery_code', 'second_factor'):
        if _has_table(table):
            op.rename_table(table, ARCHIVE + table)
