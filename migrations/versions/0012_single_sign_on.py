"""single sign-on: organisations' identity providers, people's links to them, and sign-in trips

Revision ID: 0012_single_sign_on
Revises: 0011_review_rows
Create Date: 2026-12-02 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_single_sign_on'
down_revision = '0011_review_rows'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): each table this revision made is renamed
# archived_0012_<table>, and put back on upgrade. Each step checks what is there, so it can be run again.
ARCHIVE = 'archived_0012_'
TABLES = ('identity_provider', 'single_sign_on_link', 'single_sign_on_request')


def _has_table(table):
    return sa.inspect(op.get_bind()).has_table(table)


def _create(table):
    if table == 'identity_provider':
        op.create_table('identity_provider',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('issuer', sa.String(length=500), nullable=False),
        sa.Column('client_id', sa.String(length=255), nullable=False),
        sa.Column('sealed_client_secret', sa.Text(), nullable=False),
        sa.Column('allowed_domains', sa.Text(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=True),
        sa.Column('creates_learners', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'],
                                name=op.f('fk_identity_provider_organisation_id_organisation')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_provider')),
        sa.UniqueConstraint('organisation_id', name=op.f('uq_identity_provider_organisation_id'))
        )
    elif table == 'single_sign_on_link':
        op.create_table('single_sign_on_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_signed_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_single_sign_on_link_person_id_person')),
        sa.ForeignKeyConstraint(['provider_id'], ['identity_provider.id'],
                                name=op.f('fk_single_sign_on_link_provider_id_identity_provider'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_single_sign_on_link')),
        sa.UniqueConstraint('provider_id', 'person_id', name=op.f('uq_single_sign_on_link_provider_id_person_id')),
        sa.UniqueConstraint('provider_id', 'subject', name=op.f('uq_single_sign_on_link_provider_id_subject'))
        )
        op.create_index(op.f('ix_single_sign_on_link_person_id'), 'single_sign_on_link', ['person_id'], unique=False)
    else:
        op.create_table('single_sign_on_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('state_digest', sa.String(length=64), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=False),
        sa.Column('nonce', sa.String(length=128), nullable=False),
        sa.Column('code_verifier', sa.String(length=128), nullable=False),
        sa.Column('next_url', sa.String(length=2000), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['provider_id'], ['identity_provider.id'],
                                name=op.f('fk_single_sign_on_request_provider_id_identity_provider'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_single_sign_on_request')),
        sa.UniqueConstraint('state_digest', name=op.f('uq_single_sign_on_request_state_digest'))
        )
        op.create_index(op.f('ix_single_sign_on_request_created_at'), 'single_sign_on_request', ['created_at'],
                        unique=False)


def upgrade():
    for table in TABLES:
        if _has_table(table):
            continue
        if _has_table(ARCHIVE + table):
            op.rename_table(ARCHIVE + table, table)
        else:
            _create(table)


def downgrade():
    for table in reversed(TABLES):
        if _has_table(table):
            op.rename_table(table, ARCHIVE + table)
