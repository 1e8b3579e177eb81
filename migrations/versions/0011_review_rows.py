"""cohort review rows: one precomputed display row per apprenticeship, and the organisations that may see it

Revision ID: 0011_review_rows
Revises: 0010_account_safety
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_review_rows'
down_revision = '0010_account_safety'
branch_labels = None
depends_on = None


# Downgrading keeps data (README, "Downgrades keep data"): each table this revision made is renamed
# archived_0011_<table>, and put back on upgrade. Each step checks what is there, so it can be run again.
# The rows need no copying in: the review pages write any that are missing when they are first opened, and the
# daily refresh rewrites them all.
ARCHIVE = 'archived_0011_'
TABLES = ('apprenticeship_review_row', 'apprenticeship_review_scope')


def _has_table(table):
    return sa.inspect(op.get_bind()).has_table(table)


def _create(table):
    if table == 'apprenticeship_review_row':
        op.create_table('apprenticeship_review_row',
        sa.Column('apprenticeship_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('sort_name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('search_text', sa.String(length=530), nullable=False),
        sa.Column('employer_id', sa.Integer(), nullable=False),
        sa.Column('employer_name', sa.String(length=200), nullable=False),
        sa.Column('standard_id', sa.Integer(), nullable=False),
        sa.Column('standard_label', sa.String(length=240), nullable=False),
        sa.Column('intake_id', sa.Integer(), nullable=True),
        sa.Column('intake_name', sa.String(length=100), nullable=False),
        sa.Column('status', sa.Enum('active', 'break_in_learning', 'withdrawn', 'gateway', 'end_point_assessment',
                                    'completed', name='apprenticeshipstatus', native_enum=False, length=30),
                  nullable=False),
        sa.Column('status_order', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('pending', sa.Integer(), nullable=False),
        sa.Column('rating', sa.Enum('red', 'amber', 'green', name='rag', native_enum=False, length=20),
                  nullable=True),
        sa.Column('rating_rank', sa.Integer(), nullable=True),
        sa.Column('approved_hours', sa.Numeric(precision=9, scale=2), nullable=True),
        sa.Column('expected_hours', sa.Numeric(precision=9, scale=2), nullable=True),
        sa.Column('percent_of_expected', sa.Integer(), nullable=True),
        sa.Column('progress_band', sa.Integer(), nullable=False),
        sa.Column('flag_mask', sa.Integer(), nullable=False),
        sa.Column('flags', sa.Text(), nullable=False),
        sa.Column('placements', sa.Text(), nullable=False),
        sa.Column('worked_out_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['apprenticeship_id'], ['apprenticeship.id'],
                                name=op.f('fk_apprenticeship_review_row_apprenticeship_id_apprenticeship'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['employer_id'], ['organisation.id'],
                                name=op.f('fk_apprenticeship_review_row_employer_id_organisation')),
        sa.ForeignKeyConstraint(['intake_id'], ['intake.id'],
                                name=op.f('fk_apprenticeship_review_row_intake_id_intake')),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'],
                                name=op.f('fk_apprenticeship_review_row_person_id_person')),
        sa.ForeignKeyConstraint(['standard_id'], ['standard.id'],
                                name=op.f('fk_apprenticeship_review_row_standard_id_standard')),
        sa.PrimaryKeyConstraint('apprenticeship_id', name=op.f('pk_apprenticeship_review_row'))
        )
        indexes = {
            'ix_review_row_intake_rating': ['intake_id', 'pending', 'rating_rank', 'sort_name', 'apprenticeship_id',
                                            'progress_band', 'flag_mask', 'worked_out_at'],
            'ix_review_row_rating': ['pending', 'rating_rank', 'sort_name', 'apprenticeship_id', 'progress_band',
                                     'flag_mask', 'worked_out_at'],
            'ix_review_row_intake_progress': ['intake_id', 'pending', 'percent_of_expected', 'sort_name',
                                              'apprenticeship_id'],
            'ix_review_row_name': ['sort_name', 'apprenticeship_id'],
            'ix_review_row_employer': ['employer_id', 'intake_id'],
            'ix_review_row_standard': ['standard_id', 'intake_id'],
            'ix_review_row_written': ['written_at'],
        }
        for name, columns in indexes.items():
            op.create_index(name, 'apprenticeship_review_row', columns, unique=False)
    else:
        op.create_table('apprenticeship_review_scope',
        sa.Column('apprenticeship_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('organisation_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('intake_id', sa.Integer(), nullable=True),
        sa.Column('employer_id', sa.Integer(), nullable=False),
        sa.Column('standard_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['apprenticeship_id'], ['apprenticeship.id'],
                                name=op.f('fk_apprenticeship_review_scope_apprenticeship_id_apprenticeship'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['employer_id'], ['organisation.id'],
                                name=op.f('fk_apprenticeship_review_scope_employer_id_organisation')),
        sa.ForeignKeyConstraint(['intake_id'], ['intake.id'],
                                name=op.f('fk_apprenticeship_review_scope_intake_id_intake')),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'],
                                name=op.f('fk_apprenticeship_review_scope_organisation_id_organisation')),
        sa.ForeignKeyConstraint(['standard_id'], ['standard.id'],
                                name=op.f('fk_apprenticeship_review_scope_standard_id_standard')),
        sa.PrimaryKeyConstraint('apprenticeship_id', 'organisation_id', name=op.f('pk_apprenticeship_review_scope'))
        )
        op.create_index('ix_review_scope_organisation', 'apprenticeship_review_scope',
                        ['organisation_id', 'apprenticeship_id'], unique=False)
        op.create_index('ix_review_scope_choices', 'apprenticeship_review_scope',
                        ['organisation_id', 'intake_id', 'employer_id', 'standard_id'], unique=False)


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
