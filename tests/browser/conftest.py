"""Browser fixtures: a live Pathways server on loopback and one headless Chromium per run.

The live server serves the suite's ``app`` from a thread, over the same test database, so people
made with ``make_person`` are there for the browser. Each test gets fresh browser contexts
(cookies and storage of their own).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.extensions import db
from tests.conftest import IN_CI, PASSWORD

CHROMIUM = Path(os.environ.get("PATHWAYS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(reason + "; in CI the browser tests must run", pytrace=False)
        pytest.skip(reason + "; browser tests skipped")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="package")
def live_server(app):
    """Pathways on a free loopback port, served from a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pathways-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


class Problems:
    """Console errors and uncaught exceptions seen by a page."""

    def __init__(self):
        self.errors: list[str] = []

    def watch(self, page):
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        return page


@pytest.fixture
def new_page(browser, live_server):
    """Open a page in a fresh browser context: ``new_page()`` or ``new_page(bypass_csp=True)``.

    Every page gets a ``problems`` attribute collecting its console errors."""
    contexts = []

    def open_page(*, bypass_csp: bool = False):
        # The outbox and the test's own session must not hold the database while the browser works.
        release_database()
        context = browser.new_context(base_url=live_server, bypass_csp=bypass_csp)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.problems = Problems()
        page.problems.watch(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def release_database() -> None:
    """End the test thread's transaction, so the live server can write (SQLite locks the file)."""
    db.session.rollback()


def sign_in(page, person, password: str = PASSWORD):
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    from tests.multi_factor_helpers import pass_second_factor_in_browser  # admins and coordinators give a code too

    pass_second_factor_in_browser(page, person)
    page.wait_for_url("**/")
    return page
