"""Fixtures for the whole suite.

One clock: every test runs at a frozen, explicit instant, 10:00 London time on 23 November 2026 unless
PATHWAYS_TEST_NOW names another (an ISO 8601 time with its offset). The clock is set before the test modules
are imported, so the code, the factories and the tests' own dates all read it, and it ticks from there, so
timeouts and durations still behave; nothing reads the wall-clock date or hour. ``make test-instants`` runs
the date-sensitive tests again at month ends, a leap day, the BST/GMT changes and late evening.

The suite runs against a real database: SQLite by default, or PostgreSQL when
PATHWAYS_TEST_DATABASE=postgresql (on TEST_DATABASE_URL's server, in a database of its own that is
dropped afterwards, so two runs never clash). The schema is built by the migrations, as in production.
"""

from __future__ import annotations

import contextvars
import os
import re
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.models import Person, Role
from app.services import accounts, organisations

PASSWORD = "correct-horse-battery-staple"
BACKEND = os.environ.get("PATHWAYS_TEST_DATABASE", "sqlite")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_postgres_problem: str | None = None
DEFAULT_INSTANT = "2026-11-23T10:00:00+00:00"


def suite_instant() -> datetime:
    """The instant the suite runs at (aware)."""
    value = os.environ.get("PATHWAYS_TEST_NOW", "") or DEFAULT_INSTANT
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"PATHWAYS_TEST_NOW={value!r} is not an ISO 8601 time") from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"PATHWAYS_TEST_NOW={value!r} needs an offset, e.g. +00:00") from None
    return instant


def pytest_configure(config):
    # Before collection, so module-level dates in the tests come from the same clock.
    config.pathways_clock = time_machine.travel(suite_instant(), tick=True)
    config.pathways_clock.start()


def pytest_unconfigure(config):
    clock = getattr(config, "pathways_clock", None)
    if clock is not None:
        clock.stop()


def _create_postgres_database() -> tuple[str, str]:
    import psycopg

    server_url = make_url(os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    name = f"pathways_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    dsn = server_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.set(database=name).render_as_string(hide_password=False), dsn


def _drop_postgres_database(url: str, server_dsn: str) -> None:
    import psycopg

    name = make_url(url).database
    with psycopg.connect(server_dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_report_header(config):
    return f"Pathways test database: {BACKEND}; clock set to {suite_instant().isoformat()}"


def pytest_collection_modifyitems(config, items):
    global _postgres_problem
    if BACKEND != "postgresql":
        return
    try:
        import psycopg

        server_url = make_url(os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
        dsn = server_url.set(drivername="postgresql").render_as_string(hide_password=False)
        psycopg.connect(dsn, connect_timeout=5).close()
    except Exception as error:  # noqa: BLE001 - any failure means the server is not usable
        _postgres_problem = f"PostgreSQL is not reachable ({error.__class__.__name__}: {error})".strip()
        if IN_CI:
            raise pytest.UsageError(_postgres_problem + "; in CI the PostgreSQL leg must run") from None
        skip = pytest.mark.skip(reason=_postgres_problem + "; PostgreSQL leg skipped")
        for item in items:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if _postgres_problem:
        terminalreporter.write_line(f"SKIPPED THE POSTGRESQL LEG: {_postgres_problem}", yellow=True, bold=True)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if BACKEND == "postgresql":
        url, server_dsn = _create_postgres_database()
        yield url
        _drop_postgres_database(url, server_dsn)
    else:
        # A file, not memory, so a live server thread in the browser tests sees the same data.
        path: Path = tmp_path_factory.mktemp("db") / "pathways-test.db"
        yield f"sqlite:///{path}"


TEST_SETTINGS = {
    # Cheap hashing keeps the suite fast; production uses argon2's defaults.
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_KIB": 1024,
    "ARGON2_PARALLELISM": 1,
}


class IsolatedClient(FlaskClient):
    """A browser whose every request runs in an application context of its own, as under a real
    server, so nothing held in ``g`` or the database session (the signed-in person, the CSRF token)
    leaks between requests, between browsers, or from the test itself."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app(database_url):
    from flask_migrate import upgrade

    application = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, **TEST_SETTINGS)
    application.test_client_class = IsolatedClient
    with application.app_context():
        upgrade()
        organisations.load_reference_organisations()
        db.session.commit()
        _find_sequences()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


_RESET_SEQUENCES: list[str] = []


def _find_sequences() -> None:
    """The calls that set each table's id sequence back to 1 (PostgreSQL), worked out once."""
    if db.engine.dialect.name != "postgresql" or _RESET_SEQUENCES:
        return
    found = db.session.scalars(text(
        "SELECT pg_get_serial_sequence(quote_ident(table_name), column_name) FROM information_schema.columns "
        "WHERE table_schema = current_schema() "
        "AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL")).all()
    _RESET_SEQUENCES.extend(f"setval('{name}', 1, false)" for name in found)


def _empty_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # DELETE, not TRUNCATE: a test leaves a few rows in a few tables, and TRUNCATE replaces every table's files
        # (with a checkpoint's worth of waiting), which took most of the PostgreSQL leg's time. The sequences are
        # set back so ids start at 1 again, as after TRUNCATE ... RESTART IDENTITY.
        db.session.execute(text(";".join(f"DELETE FROM {table}" for table in tables)))  # noqa: S608 - our own tables
        db.session.execute(text(f"SELECT {', '.join(_RESET_SEQUENCES)}" if _RESET_SEQUENCES else "SELECT 1"))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our own table names
    db.session.commit()
    db.session.expunge_all()  # objects of the emptied tables must not linger in the identity map
    organisations.load_reference_organisations()
    db.session.commit()


@pytest.fixture(autouse=True)
def app_context(app):
    """Each test runs in an app context over a database holding only the reference organisations."""
    with app.app_context():
        yield
        db.session.rollback()
        _empty_tables()
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def new_client(app):
    """Makes further test clients (browsers with their own cookies) for one test."""
    return app.test_client


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def organisation(code: str):
    return accounts.organisation_by_code(code)


def make_person(
    email: str = "person@example.org",
    *,
    name: str = "Test Person",
    roles=(Role.LEARNER,),
    organisation_code: str = "E09000012",
    scope: tuple[str, ...] = (),
    password: str | None = PASSWORD,
) -> Person:
    person = accounts.create_person(
        None,
        email=email,
        name=name,
        organisation=organisation(organisation_code),
        roles=[Role(r) for r in roles],
        scope=[organisation(code) for code in scope],
        password=password,
    )
    db.session.commit()
    return person


CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str = "/sign-in") -> str:
    """The CSRF token of ``client``'s session, read from a real form."""
    page = client.get(path)
    match = CSRF_PATTERN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post_form(client, path: str, data: dict | None = None, *, token_from: str | None = None, **kwargs):
    """Submit a form the way a browser does: with the CSRF token of the page it came from."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, token_from or path))
    return client.post(path, data=data, **kwargs)


def sign_in(client, person_or_email, password: str = PASSWORD):
    email = person_or_email if isinstance(person_or_email, str) else person_or_email.email
    response = post_form(client, "/sign-in", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    from tests.multi_factor_helpers import pass_second_factor  # admins and coordinators give a code too

    return pass_second_factor(client, response, email)


@pytest.fixture
def admin(app_context):
    return make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")


@pytest.fixture
def signed_in_admin(client, admin):
    sign_in(client, admin)
    return admin
