"""Downgrades keep data: each revision's downgrade renames the tables it made to archived_<revision>_<table> and
copies the columns it added to archived_<revision>_<table> before dropping them; upgrading again restores both.
Checked on a populated database of its own, step by step down to nothing and back up to head."""

from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import datetime, time

import pytest
from flask import current_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool
from werkzeug.datastructures import FileStorage

from app import create_app
from app.extensions import db
from app.models import OtjStatus
from app.services import clock, evidence, reminders, review_rows, risk, scheduling, verification
from app.services import organisations as organisation_service
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_otj,
    make_placement,
    make_standard_version,
    make_team,
)
from tests.certificate_factories import issue_course_certificate
from tests.conftest import BACKEND, TEST_SETTINGS, _create_postgres_database, _drop_postgres_database
from tests.course_factories import enrol, make_learner, make_learning_course, make_run, record_progress


def empty_database(url: str) -> None:
    """Drop every table of a PostgreSQL database (cheaper than dropping the database, which forces a checkpoint)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        quote = connection.dialect.identifier_preparer.quote
        for table in inspect(connection).get_table_names():
            connection.execute(text(f"DROP TABLE IF EXISTS {quote(table)} CASCADE"))
    engine.dispose()


@contextmanager
def postgresql_database_for_a_module():
    """On the PostgreSQL leg, a database of the module's own, made and dropped once; None on SQLite."""
    if BACKEND != "postgresql":
        yield None
        return
    url, server = _create_postgres_database()
    try:
        yield url
    finally:
        _drop_postgres_database(url, server)


def empty_database_of_its_own(postgresql_url: str | None, folder) -> str:
    """An empty database for one test: a SQLite file in ``folder``, or the module's PostgreSQL database emptied."""
    if postgresql_url:
        empty_database(postgresql_url)
        return postgresql_url
    return f"sqlite:///{folder / 'pathways.db'}"


@pytest.fixture(scope="module")
def postgresql_database():
    with postgresql_database_for_a_module() as url:
        yield url


@pytest.fixture
def own_database(postgresql_database, tmp_path):
    return empty_database_of_its_own(postgresql_database, tmp_path)


@pytest.fixture
def migrated(own_database, tmp_path):
    """Pathways on its own database, upgraded to head with the reference organisations."""
    application = create_app("testing", SQLALCHEMY_DATABASE_URI=own_database, EVIDENCE_DIR=str(tmp_path / "evidence"),
                             **TEST_SETTINGS)
    with application.app_context():
        upgrade()
        organisation_service.load_reference_organisations()
        db.session.commit()
        yield application
        db.session.remove()
        db.engine.dispose()


def populate() -> None:
    """Some of everything: people with an opt-out, a course run with progress and a certificate, an
    apprenticeship with a placement, approved hours and evidence, reminders sent and skipped, risk flags,
    a job run and a certificate check."""
    daytime = datetime.combine(clock.today(), time(11), tzinfo=clock.LONDON)
    run = make_run(make_learning_course(), starts_in=2)
    keen, quiet = make_learner("keen@example.org"), make_learner("quiet@example.org")
    reminders.set_non_essential_reminders(quiet, quiet, False)
    for learner in (keen, quiet):
        record_progress(enrol(learner, run), lessons=1)
    make_team("E09000012", "Digital services", capacity=4)
    apprenticeship = make_apprenticeship(make_apprentice(), standard_version=make_standard_version())
    make_placement(apprenticeship)
    activity = make_otj(apprenticeship, minutes=210, status=OtjStatus.APPROVED)
    evidence.store(activity, FileStorage(io.BytesIO(b"Notes from the workshop.\n"), filename="notes.txt"))
    issue_course_certificate()
    verification.take_attempt("203.0.113.9").found = True
    sent = reminders.queue_due_reminders(daytime)
    assert (sent["run_starting"], sent["skipped_opted_out"]) == (1, 1)
    risk.refresh_flags()
    db.session.commit()
    assert scheduling.run_job("purge-attempts", scheduling.RUN_ONCE).outcome.value == "succeeded"
    db.session.remove()


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def snapshot() -> dict[str, list[dict]]:
    """Every row of every table, column by column."""
    with db.engine.connect() as connection:
        return {table: sorted((dict(row._mapping) for row in connection.execute(text(f'SELECT * FROM "{table}"'))),
                              key=repr)
                for table in sorted(table_names())}


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def revisions_from_head() -> list:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    return list(script.walk_revisions())


def test_downgrading_step_by_step_to_nothing_and_upgrading_again_keeps_every_row(migrated):
    populate()
    before = snapshot()
    counts = {table: len(rows) for table, rows in before.items()}
    assert counts["reminder"] >= 2 and counts["job_run"] == 1 and counts["risk_standing"] >= 1
    assert counts["otj_activity"] == 1 and counts["evidence_file"] == 1 and counts["certificate_file"] == 1
    assert counts["apprenticeship_review_row"] == 1 and counts["apprenticeship_review_scope"] >= 1
    assert [row["non_essential_reminders"] for row in before["person"] if row["email"] == "quiet@example.org"] \
        in ([False], [0])

    for revision in revisions_from_head():
        downgrade(revision="-1")
        assert current_revision() == revision.down_revision
    # Nothing is left in use, and nothing is lost: every table is an archive.
    archives = table_names()
    assert all(name.startswith("archived_0") for name in archives), sorted(archives)
    assert {"archived_0005_reminder", "archived_0005_job_run", "archived_0005_person", "archived_0003_team",
            "archived_0001_person", "archived_0003_otj_activity", "archived_0011_apprenticeship_review_row",
            "archived_0011_apprenticeship_review_scope"} <= archives

    upgrade()

    assert current_revision() == revisions_from_head()[0].revision
    assert snapshot() == before


def test_a_column_comes_back_for_the_rows_it_had_and_new_rows_take_its_default(migrated):
    populate()
    reminders_sent = snapshot()["reminder"]
    downgrade(revision="0004_certificates")
    assert "non_essential_reminders" not in {c["name"] for c in inspect(db.engine).get_columns("person")}
    with db.engine.begin() as connection:
        # Written while downgraded, by a Pathways that knows nothing of reminders.
        connection.execute(text(
            "INSERT INTO person (email, name, organisation_id, active, session_version, created_at) "
            "SELECT 'later@example.org', 'Later Person', id, true, 1, CURRENT_TIMESTAMP FROM organisation "
            "WHERE code = 'E09000012'"))
        assert connection.execute(text("SELECT count(*) FROM archived_0005_reminder")).scalar() == len(reminders_sent)

    upgrade()

    with db.engine.connect() as connection:
        choices = dict(connection.execute(text("SELECT email, non_essential_reminders FROM person")).all())
    assert choices["quiet@example.org"] in (False, 0)
    assert choices["keen@example.org"] in (True, 1) and choices["later@example.org"] in (True, 1)
    assert not {name for name in table_names() if name.startswith("archived_")}


def test_review_rows_come_back_with_an_upgrade_and_any_missing_are_written_when_a_review_opens(migrated):
    populate()
    rows = snapshot()["apprenticeship_review_row"]
    downgrade(revision="0010_account_safety")
    assert {"archived_0011_apprenticeship_review_row", "archived_0011_apprenticeship_review_scope"} <= table_names()
    with db.engine.begin() as connection:  # a row lost while downgraded: the review writes it again
        connection.execute(text("DELETE FROM archived_0011_apprenticeship_review_scope"))
        connection.execute(text("DELETE FROM archived_0011_apprenticeship_review_row"))

    upgrade()

    assert snapshot()["apprenticeship_review_row"] == []
    assert review_rows.fill_missing() is True
    db.session.commit()
    again = snapshot()["apprenticeship_review_row"]
    assert [(r["apprenticeship_id"], r["name"], r["rating"], r["flags"]) for r in again] == [
        (r["apprenticeship_id"], r["name"], r["rating"], r["flags"]) for r in rows]
