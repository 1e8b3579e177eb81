"""account safety: password reset throttling and single-use links

Revision ID: 0010_account_safety
Revises: 0009_multi_factor
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_account_safety'
down_revision = '0009_multi_factor'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): each table this revision made is renamed
# archived_0010_<table>, and put back on upgrade. Each step checks what is there, so it can be run again.
ARCHIVE = 'archived_0010_'
TABLES = ('password_reset_request', 'used_link')


def _has_table(table):
    return sa.inspect(op.get_bind()).has_table(table)


def _create(table):
    if table == 'password_reset_request':
        op.create_table('password_reset_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('address_digest', sa.String(length=64), nullable=False),
        sa.Column('client_address', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_request'))
        )
        op.create_index('ix_password_reset_request_address_at', 'password_reset_request',
                        ['address_digest', 'at'], unique=False)
        op.create_index('ix_password_reset_request_client_at', 'password_reset_request',
                        ['client_address', 'at'], unique=False)
    else:
        op.create_table('used_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_digest', sa.String(length=64), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_used_link')),
        sa.UniqueConstraint('token_digest', name=op.f('uq_used_link_token_digest'))
        )
        op.create_index(op.f('ix_used_link_expires_at'), 'used_link', ['expires_at'], unique=False)


def upgrade():
    for table in TABLES:
        if _has_table(table):
            continue
        if _has_table(ARCHIVE + table):
            op.rename_table(ARCHIVE + table, table)
        else:
            _create(table)


def downgrade():
    for table in TABLES:
        if _has_table(table):
            op.rename_table(table, ARCHIVE + table)
