"""The accessibility statement, privacy notice and cookies page: open to everyone, linked from every page's
footer, well structured, and true to what Pathways does (its one cookie, how long it keeps records)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import request_finished

from app.models import Role
from app.services import accounts, sessions, signing_in, verification
from tests.conftest import csrf_token, make_person, sign_in
from tests.pages import html_of, page_title, text_of

PAGES = {
    "/accessibility-statement": "Accessibility statement for Pathways",
    "/privacy-notice": "Privacy notice",
    "/cookies": "Cookies",
}
FOOTER_LINKS = {"Accessibility statement": "/accessibility-statement", "Privacy": "/privacy-notice",
                "Cookies": "/cookies"}


class Outline(HTMLParser):
    """The headings of the page's main content in order, and the links inside its footer."""

    def __init__(self):
        super().__init__()
        self.headings: list[tuple[int, str]] = []
        self.footer_links: dict[str, str] = {}
        self._heading: int | None = None
        self._link: str | None = None
        self._in_footer = self._in_main = False
        self._text = ""

    def handle_starttag(self, tag, attrs):
        if tag in ("footer", "main"):
            setattr(self, f"_in_{tag}", True)
        elif re.fullmatch(r"h[1-6]", tag) and self._in_main:
            self._heading, self._text = int(tag[1]), ""
        elif tag == "a" and self._in_footer:
            self._link, self._text = dict(attrs)["href"], ""

    def handle_endtag(self, tag):
        if tag in ("footer", "main"):
            setattr(self, f"_in_{tag}", False)
        elif re.fullmatch(r"h[1-6]", tag) and self._heading:
            self.headings.append((self._heading, " ".join(self._text.split())))
            self._heading = None
        elif tag == "a" and self._link:
            self.footer_links[" ".join(self._text.split())] = self._link
            self._link = None

    def handle_data(self, data):
        self._text += data


def outline(response) -> Outline:
    parser = Outline()
    parser.feed(html_of(response))
    return parser


@pytest.mark.parametrize(("path", "heading"), PAGES.items())
def test_anyone_can_read_the_page_without_signing_in_and_it_sets_no_cookie(client, path, heading):
    response = client.get(path)

    assert response.status_code == 200
    assert page_title(response) == f"{heading} – Pathways"
    assert outline(response).headings[0] == (1, heading)
    assert response.headers.getlist("Set-Cookie") == []


@pytest.mark.parametrize("path", PAGES)
def test_headings_form_an_outline_with_one_title_and_no_skipped_levels(client, path):
    levels = [level for level, _text in outline(client.get(path)).headings]
    assert levels[0] == 1 and levels.count(1) == 1
    for before, after in zip(levels, levels[1:], strict=False):
        assert after <= before + 1, f"a level {after} heading follows a level {before} heading on {path}"
    assert 2 in levels


def test_every_page_links_to_the_three_in_its_footer(client):
    learner = make_person("lee@example.org", name="Lee Learner")
    for path in ("/sign-in", "/verify", *PAGES):
        assert FOOTER_LINKS.items() <= outline(client.get(path)).footer_links.items(), path
    sign_in(client, learner)
    for path in ("/courses", "/account/password", "/account/sessions"):
        assert FOOTER_LINKS.items() <= outline(client.get(path)).footer_links.items(), path


def test_the_pages_are_still_there_for_someone_signed_in(client):
    sign_in(client, make_person("lee@example.org", name="Lee Learner"))
    for path, heading in PAGES.items():
        response = client.get(path)
        assert response.status_code == 200
        assert outline(response).headings[0] == (1, heading)


def test_the_contact_and_the_organisation_running_pathways_come_from_the_settings(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PATHWAYS_CONTACT_EMAIL", "digital.skills@hackney.example")
    monkeypatch.setitem(app.config, "PATHWAYS_OPERATOR", "Hackney Council")

    for path in PAGES:
        html = html_of(client.get(path))
        assert 'href="mailto:digital.skills@hackney.example"' in html, path
    statement = text_of(client.get("/accessibility-statement"))
    assert "This website is run by Hackney Council." in statement
    assert "Hackney Council is committed to making its website accessible" in statement
    assert "Hackney Council runs Pathways for them." in text_of(client.get("/privacy-notice"))


def test_the_contact_settings_have_defaults(app):
    assert app.config["PATHWAYS_CONTACT_EMAIL"] == "help@pathways.london"
    assert app.config["PATHWAYS_OPERATOR"] == "London Councils"


def test_the_accessibility_statement_follows_the_model_statement(app, client):
    response = client.get("/accessibility-statement")
    headings = [text for _level, text in outline(response).headings]
    model = ["Accessibility statement for Pathways", "How accessible this website is",
             "Feedback and contact information", "Reporting accessibility problems with this website",
             "Enforcement procedure", "Technical information about this website's accessibility",
             "Compliance status", "Non-accessible content", "Non-compliance with the accessibility regulations",
             "Disproportionate burden", "Content that's not within the scope of the accessibility regulations",
             "What we're doing to improve accessibility", "Preparation of this accessibility statement"]
    assert headings == model
    text = text_of(response)
    assert "partially compliant with the Web Content Accessibility Guidelines version 2.2 AA standard" in text
    assert "Equality and Human Rights Commission (EHRC)" in text
    assert "Equality Commission for Northern Ireland (ECNI)" in text
    assert "axe-core in a real Chromium browser on every kind of page" in text
    assert "This statement was prepared on 2 December 2026." in text
    assert f"applies to Pathways at {app.config['BASE_URL']}" in text


def test_the_statement_gives_the_session_limits_pathways_actually_has(app, client, monkeypatch):
    from datetime import timedelta

    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", timedelta(minutes=45))
    monkeypatch.setitem(app.config, "SESSION_ABSOLUTE_HOURS", 9)

    text = text_of(client.get("/accessibility-statement"))
    assert "A signed-in session ends after 45 minutes without activity, and 9 hours after signing in" in text
    assert "2.2.1 (Timing Adjustable)" in text


def test_the_cookies_page_lists_the_one_cookie_pathways_sets_and_asks_for_no_consent(app, client):
    """Every cookie seen while signing in, using a page and signing out is the one the page lists."""
    learner = make_person("lee@example.org", name="Lee Learner", roles=(Role.LEARNER,))
    set_cookies = []

    def record(_sender, response, **_extra):
        set_cookies.extend(header.split("=", 1)[0] for header in response.headers.getlist("Set-Cookie"))

    with request_finished.connected_to(record, app):
        client.get("/sign-in")
        client.get("/apprenticeships")  # needs signing in: the visitor is sent to sign in, with a message
        sign_in(client, learner)
        client.get("/courses")
        client.get("/account/sessions")
        client.post("/sign-out", data={"csrf_token": csrf_token(client, "/courses")})

    assert set(set_cookies) == {app.config["SESSION_COOKIE_NAME"]} == {"pathways_session"}
    page = client.get("/cookies")
    text = text_of(page)
    assert re.findall(r'<dd class="govuk-summary-list__value" id="cookie-name"><code>(.*?)</code>', html_of(page)) == [
        "pathways_session"]
    assert "Pathways uses one cookie" in text
    assert "After 30 minutes without activity, when you sign out, or 12 hours after you signed in" in text
    assert "Pathways does not ask you to accept cookies" in text
    assert "govuk-cookie-banner" not in html_of(page)


def test_the_privacy_notice_names_what_pathways_holds_and_who_sees_it(client):
    text = text_of(client.get("/privacy-notice"))
    for held in ("your name and work email address", "your organisation and team", "your roles",
                 "each session you sign in to", "attempts to sign in", "the evidence files you upload",
                 "progress reviews", "each certificate issued to you", "an audit trail of changes",
                 "a copy of each email Pathways sends you"):
        assert held in text, held
    assert "public task (Article 6(1)(e))" in text
    assert "contract (Article 6(1)(b)), for apprentices: your contract of employment" in text
    assert "the coordinators of the borough or organisation hosting your placement" in text
    for right in ("(access)", "(rectification)", "(erasure)", "object to the use of your data"):
        assert right in text, right
    assert "Information Commissioner's Office (ICO)" in text


def test_the_privacy_notice_gives_the_retention_the_daily_purge_applies(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "OUTBOX_LINK_BODY_DAYS", 5)
    monkeypatch.setitem(app.config, "OUTBOX_KEEP_DAYS", 60)

    text = text_of(client.get("/privacy-notice"))

    # The purge functions the daily job calls, with the periods they use when it calls them.
    assert sessions.PURGE_AFTER.days == 30
    for purge in (signing_in.purge_old_attempts, verification.purge_old_attempts,
                  accounts.purge_old_reset_requests):
        assert purge.__defaults__[0].days == 30
    assert "attempts to sign in: after 30 days" in text
    assert "records of signed-in sessions: 30 days after the session ended" in text
    assert "requests to reset a password: after 30 days" in text
    assert "checks of certificates: after 30 days" in text
    assert "the message itself is removed 5 days after it was sent" in text
    assert "copies of emails: deleted 60 days after they were sent" in text
    assert "Pathways does not delete these automatically" in text
