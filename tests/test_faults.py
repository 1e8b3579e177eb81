"""Behaviour under faults: while the database is unreachable everyone gets Pathways' own "not available" page
(503, with Retry-After), drawn without touching the database; any other failure still gets the Pathways error
page."""

from __future__ import annotations

import pytest
from flask import abort
from sqlalchemy import event, text

from app import create_app
from app.extensions import db
from app.policy import public
from tests.conftest import TEST_SETTINGS, make_person, sign_in
from tests.pages import page_title, text_of

UNAVAILABLE = "Sorry, Pathways is not available at the moment"
# A port nothing listens on: the server refuses the connection at once.
CLOSED_PORT_POSTGRESQL = "postgresql+psycopg://pathways@127.0.0.1:1/pathways"


@pytest.fixture
def app_for():
    """Makes Pathways as a server runs it (errors answered by its handlers, not raised into the test)."""
    made = []

    def make(url: str):
        options = {"connect_args": {"connect_timeout": 2}} if url.startswith("postgresql") else {}
        made.append(create_app("testing", SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS=options,
                               PROPAGATE_EXCEPTIONS=False, **TEST_SETTINGS))
        return made[-1]

    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def count_connection_attempts(application) -> list[int]:
    attempts = []
    with application.app_context():
        event.listen(db.engine, "do_connect", lambda *args: attempts.append(1))
    return attempts


@pytest.fixture(params=["postgresql-closed-port", "sqlite-unreadable-path"])
def unreachable(request, app_for, tmp_path):
    if request.param == "postgresql-closed-port":
        return app_for(CLOSED_PORT_POSTGRESQL)
    # A folder where the database file should be: SQLite cannot open it.
    folder = tmp_path / "pathways.db"
    folder.mkdir()
    return app_for(f"sqlite:///{folder}")


def signed_in_looking(application):
    """A browser with a valid session cookie of someone signed in: loading them needs the database."""
    browser = application.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = "1:1"
        session["_fresh"] = True
    return browser


def assert_unavailable_page(response):
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == "text/html"
    assert page_title(response) == f"{UNAVAILABLE} – Pathways"
    page = text_of(response)
    assert "Try again in a few minutes" in page
    assert "Signed in as" not in page  # the layout never asked who is signed in
    # Still the response of a Pathways request: its id and security headers are set.
    assert response.headers["X-Request-ID"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_someone_signed_in_gets_the_unavailable_page_while_the_database_is_unreachable(unreachable):
    attempts = count_connection_attempts(unreachable)
    browser = signed_in_looking(unreachable)

    for number, path in enumerate(["/", "/courses", "/people"], start=1):
        response = browser.get(path)

        assert_unavailable_page(response)
        assert len(attempts) == number  # loading the person; the page itself tried nothing


def test_an_anonymous_visitor_gets_the_unavailable_page_while_the_database_is_unreachable(unreachable, caplog):
    attempts = count_connection_attempts(unreachable)
    browser = unreachable.test_client()

    response = browser.get("/verify/ABCD-EFGH-JKLM")

    assert_unavailable_page(response)
    assert len(attempts) == 1
    [logged] = [r.getMessage() for r in caplog.records if r.name == "pathways.errors"]
    assert f"request_id={response.headers['X-Request-ID']} path=/verify/ABCD-EFGH-JKLM database unavailable: " \
           "OperationalError: " in logged
    # Pages that need no database still work, and the readiness check answers in JSON.
    assert browser.get("/sign-in").status_code == 200
    assert browser.get("/healthz").status_code == 200
    ready = browser.get("/readyz")
    assert (ready.status_code, ready.headers["Retry-After"], ready.get_json()["status"]) == (503, "30", "unavailable")


def test_pages_that_need_no_database_still_work_for_someone_signed_in(unreachable):
    browser = signed_in_looking(unreachable)
    assert browser.get("/static/favicon.svg").status_code == 200
    assert browser.get("/healthz").status_code == 200


def test_the_unavailable_page_is_served_when_the_database_goes_away_mid_request(app_for, database_url):
    """The connection is lost after the person was loaded and while the page works: the page is still
    Pathways' own, and nothing more is asked of the broken connection."""
    application = app_for(database_url)

    @application.get("/test-only/lost-connection")
    @public
    def lost_connection():
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
                               connection_invalidated=True)

    make_person("signed.in@example.org")
    browser = application.test_client()
    sign_in(browser, "signed.in@example.org")

    response = browser.get("/test-only/lost-connection")

    assert_unavailable_page(response)


def test_any_other_failure_gets_the_pathways_error_page(app_for, database_url):
    application = app_for(database_url)

    @application.get("/test-only/failure")
    @public
    def failure():
        raise RuntimeError("a bug")

    @application.get("/test-only/broken-query")
    @public
    def broken_query():
        db.session.execute(text("SELECT no_such_column FROM person"))

    @application.get("/test-only/forbidden")
    @public
    def forbidden():
        abort(403)

    make_person("signed.in@example.org", name="Sam Signed-In")
    browser = application.test_client()
    sign_in(browser, "signed.in@example.org")

    for path in ("/test-only/failure", "/test-only/broken-query"):
        response = browser.get(path)
        assert response.status_code == 500, path
        assert page_title(response) == "Sorry, there is a problem with Pathways – Pathways"
        page = text_of(response)
        assert f"quote reference {response.headers['X-Request-ID']}" in page
        assert "Signed in as Sam Signed-In" in page  # the database is fine, so the layout is whole
        assert "Retry-After" not in response.headers

    assert browser.get("/test-only/forbidden").status_code == 403
