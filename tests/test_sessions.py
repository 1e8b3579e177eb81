"""Signed-in sessions: each one recorded on the server, so signing out ends it for every copy of its cookie; an
absolute lifetime however active; the "Your sessions" page, where a person sees where they are signed in and
signs out elsewhere; and what checking a session costs each request."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import AuditEvent
from app.models.types import utcnow
from app.services import scheduling
from tests.conftest import PASSWORD, csrf_token, make_person, post_form, sign_in
from tests.pages import html_of, page_title, text_of
from tests.statements import counting_statements

PROTECTED = "/account/password"
SESSIONS = "/account/sessions"
COOKIE = "pathways_session"
NEW_PASSWORD = "violet-lantern-orbit-meadow"
CHROME_ON_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/131.0.0.0 Safari/537.36")
SAFARI_ON_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    "Version/17.6 Mobile/15E148 Safari/604.1")
FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def records(person=None):
    """The session records, oldest first (imported here so the tests of behaviour run on any version)."""
    from app.models import UserSession

    db.session.expire_all()
    query = select(UserSession).order_by(UserSession.id)
    if person is not None:
        query = query.where(UserSession.person_id == person.id)
    return db.session.scalars(query).all()


def device(new_client, user_agent: str, address: str):
    """A browser of its own, on its own device and address."""
    browser = new_client()
    browser.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    return browser


def is_signed_in(client) -> bool:
    response = client.get(PROTECTED)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/sign-in")
        return False
    assert response.status_code == 200
    return True


def copy_cookie(source, target) -> None:
    target.set_cookie(COOKIE, source.get_cookie(COOKIE).value)


def sign_out(client):
    return client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})


def sessions_page(client):
    response = client.get(SESSIONS)
    assert response.status_code == 200, response.status_code
    return response


def rows(response) -> list[str]:
    """Each session's row on the page, as text."""
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split())
            for row in re.findall(r'<tr class="govuk-table__row app-session">(.*?)</tr>', html_of(response), re.S)]


def end_session(client, record_id: int):
    return post_form(client, f"{SESSIONS}/{record_id}/sign-out", token_from=SESSIONS)


def end_other_sessions(client):
    return post_form(client, f"{SESSIONS}/sign-out-others", token_from=SESSIONS)


# Signing out ---------------------------------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_no_longer_works_after_it(client, new_client):
    sign_in(client, make_person("sam@example.org"))
    thief = new_client()
    copy_cookie(client, thief)
    assert is_signed_in(thief)  # the copy works while the session lasts

    assert sign_out(client).status_code == 302

    assert not is_signed_in(thief)
    assert not is_signed_in(client)
    [record] = records()
    assert record.ended_at is not None and record.ended_reason == "signed_out"


def test_signing_out_on_one_device_leaves_the_others_signed_in(new_client):
    person = make_person("sam@example.org")
    laptop, phone = new_client(), new_client()
    sign_in(laptop, person)
    sign_in(phone, person)
    sign_out(laptop)
    assert not is_signed_in(laptop)
    assert is_signed_in(phone)


def test_a_cookie_from_before_sign_in_does_not_sign_anyone_in(client, new_client):
    """Each sign-in starts a new session: a cookie taken before it (say, on a shared computer) stays signed out."""
    client.get("/sign-in")
    before = new_client()
    copy_cookie(client, before)
    sign_in(client, make_person("sam@example.org"))
    assert not is_signed_in(before)
    assert is_signed_in(client)


# Lifetimes -----------------------------------------------------------------------------------------------------


def test_a_session_older_than_its_absolute_lifetime_is_refused_however_active(client, app):
    hours = app.config["SESSION_ABSOLUTE_HOURS"]
    assert hours == 12
    start = utcnow()
    with time_machine.travel(start, tick=True) as traveller:
        sign_in(client, make_person("sam@example.org"))
        # Used every 25 minutes, so never idle, for all but the last minute of its life.
        for minutes in range(25, hours * 60, 25):
            traveller.move_to(start + timedelta(minutes=minutes))
            assert is_signed_in(client), f"signed out after {minutes} minutes"
        traveller.move_to(start + timedelta(hours=hours, minutes=-1))
        assert is_signed_in(client)

        traveller.move_to(start + timedelta(hours=hours, minutes=1))
        response = client.get(PROTECTED)

        assert response.status_code == 302
        assert response.headers["Location"] == "/sign-in?next=%2Faccount%2Fpassword"
        follow = client.get(response.headers["Location"])
        assert "Sign in to see this page." in text_of(follow)
        [record] = records()
        assert record.ended_reason == "expired"
        # Signing in again starts a new session, with a lifetime of its own.
        sign_in(client, "sam@example.org")
        assert is_signed_in(client)


def test_an_idle_session_ends_and_activity_keeps_it_alive(client, app):
    idle = app.config["PERMANENT_SESSION_LIFETIME"]
    assert idle == timedelta(minutes=30)
    start = utcnow()
    with time_machine.travel(start, tick=True) as traveller:
        sign_in(client, make_person("sam@example.org"))
        traveller.move_to(start + idle - timedelta(minutes=1))
        assert is_signed_in(client)
        traveller.move_to(start + 2 * idle - timedelta(minutes=2))
        assert is_signed_in(client)
        traveller.move_to(start + 3 * idle)  # 31 minutes since the last request
        assert not is_signed_in(client)


def test_a_session_whose_record_went_idle_is_refused_though_its_cookie_is_fresh(client):
    """The record's last use counts on its own: a session idle on the server ends whatever its cookie says."""
    sign_in(client, make_person("sam@example.org"))
    [record] = records()
    record.last_seen_at = utcnow() - timedelta(minutes=45)
    db.session.commit()
    assert not is_signed_in(client)
    [record] = records()
    assert record.ended_reason == "idle"


def test_last_seen_is_written_at_most_once_a_minute(client):
    sign_in(client, make_person("sam@example.org"))
    start = utcnow()
    [record] = records()
    signed_in_at = record.last_seen_at
    with time_machine.travel(start, tick=True) as traveller:
        traveller.move_to(start + timedelta(seconds=30))
        assert is_signed_in(client)
        assert records()[0].last_seen_at == signed_in_at
        traveller.move_to(start + timedelta(seconds=75))
        assert is_signed_in(client)
        seen = records()[0].last_seen_at
        assert seen >= start + timedelta(seconds=75)
        traveller.move_to(start + timedelta(seconds=100))
        assert is_signed_in(client)
        assert records()[0].last_seen_at == seen


# The sessions page ---------------------------------------------------------------------------------------------


def test_the_sessions_page_lists_each_active_session_with_this_device_marked(new_client):
    person = make_person("sam@example.org")
    other_person = make_person("kim@example.org")
    laptop = device(new_client, CHROME_ON_WINDOWS, "203.0.113.10")
    phone = device(new_client, SAFARI_ON_IPHONE, "198.51.100.22")
    ended = device(new_client, FIREFOX_ON_LINUX, "192.0.2.30")
    sign_in(ended, person)
    sign_out(ended)
    sign_in(phone, person)
    sign_in(laptop, person)
    sign_in(device(new_client, FIREFOX_ON_LINUX, "192.0.2.99"), other_person)

    page = sessions_page(laptop)

    assert page_title(page) == "Your sessions – Pathways"
    listed = rows(page)
    assert len(listed) == 2, listed  # not the ended session, nor anyone else's
    this, other = listed
    assert this.startswith("Chrome on Windows This device 203.0.113.10")
    assert "Sign out of this session" not in this
    assert other.startswith("Safari on iPhone 198.51.100.22")
    assert "Sign out of this session" in other
    # Times are London's.
    london = utcnow().astimezone(__import__("zoneinfo").ZoneInfo("Europe/London"))
    assert f"{london:%-d %B %Y}" in this
    assert "Sign out everywhere else" in text_of(page)
    # From the account menu.
    assert f'href="{SESSIONS}"' in html_of(laptop.get("/"))


def test_sign_out_everywhere_else_ends_the_others_but_not_this_one(new_client):
    person = make_person("sam@example.org", name="Sam Rivera")
    laptop = device(new_client, CHROME_ON_WINDOWS, "203.0.113.10")
    phone = device(new_client, SAFARI_ON_IPHONE, "198.51.100.22")
    tablet = device(new_client, FIREFOX_ON_LINUX, "192.0.2.30")
    bystander = new_client()
    for browser in (phone, tablet, laptop):
        sign_in(browser, person)
    sign_in(bystander, make_person("kim@example.org"))

    response = end_other_sessions(laptop)

    assert response.status_code == 302
    assert response.headers["Location"] == SESSIONS
    page = laptop.get(SESSIONS)
    assert "You have signed out of 2 other sessions." in text_of(page)
    assert len(rows(page)) == 1
    assert "Sign out everywhere else" not in text_of(page)
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(tablet)
    assert is_signed_in(bystander)
    assert [r.ended_reason for r in records(person)] == ["signed_out_elsewhere", "signed_out_elsewhere", None]
    event_ = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.signed_out_elsewhere"))
    assert (event_.actor_id, event_.subject_type, event_.subject_id) == (person.id, "person", person.id)
    assert event_.summary == "Sam Rivera signed out of 2 other sessions"
    assert event_.details["sessions"] == [r.id for r in records(person)[:2]]


def test_sign_out_of_one_other_session(new_client):
    person = make_person("sam@example.org", name="Sam Rivera")
    laptop = device(new_client, CHROME_ON_WINDOWS, "203.0.113.10")
    phone = device(new_client, SAFARI_ON_IPHONE, "198.51.100.22")
    tablet = device(new_client, FIREFOX_ON_LINUX, "192.0.2.30")
    for browser in (phone, tablet, laptop):
        sign_in(browser, person)
    phone_record = records(person)[0]

    response = end_session(laptop, phone_record.id)

    assert response.status_code == 302
    assert "You have signed out of Safari on iPhone (198.51.100.22)." in text_of(laptop.get(SESSIONS))
    assert not is_signed_in(phone)
    assert is_signed_in(tablet) and is_signed_in(laptop)
    assert records(person)[0].ended_reason == "signed_out_elsewhere"
    event_ = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.signed_out_elsewhere"))
    assert event_.summary == "Sam Rivera signed out of Safari on iPhone (198.51.100.22)"
    # Ending it again, or ending this device's own session from the list, changes nothing.
    assert end_session(laptop, phone_record.id).status_code == 404
    assert end_session(laptop, records(person)[2].id).status_code == 404
    assert is_signed_in(laptop)


def test_another_persons_session_cannot_be_ended(new_client):
    mine = new_client()
    theirs = new_client()
    sign_in(mine, make_person("sam@example.org"))
    someone = make_person("kim@example.org")
    sign_in(theirs, someone)
    [their_record] = records(someone)

    assert end_session(mine, their_record.id).status_code == 404
    assert end_session(mine, 2**31 - 1).status_code == 404
    assert is_signed_in(theirs)
    assert records(someone)[0].ended_at is None


def test_signing_out_elsewhere_needs_a_csrf_token_and_a_post(client, new_client):
    person = make_person("sam@example.org")
    phone = new_client()
    sign_in(phone, person)
    sign_in(client, person)
    [phone_record, _] = records(person)
    assert client.post(f"{SESSIONS}/sign-out-others").status_code == 400
    assert client.post(f"{SESSIONS}/{phone_record.id}/sign-out").status_code == 400
    assert client.get(f"{SESSIONS}/sign-out-others").status_code == 405
    assert is_signed_in(phone)


def test_the_sessions_page_needs_sign_in(client):
    response = client.get(SESSIONS)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=%2Faccount%2Fsessions"


# Passwords -----------------------------------------------------------------------------------------------------


def test_changing_the_password_ends_every_other_session_and_keeps_this_one(new_client):
    person = make_person("sam@example.org")
    laptop = device(new_client, CHROME_ON_WINDOWS, "203.0.113.10")
    phone = device(new_client, SAFARI_ON_IPHONE, "198.51.100.22")
    sign_in(phone, person)
    sign_in(laptop, person)
    copy = new_client()
    copy_cookie(laptop, copy)  # a copy of this very session's cookie, taken before the change

    response = post_form(laptop, PROTECTED, {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                             "confirm_password": NEW_PASSWORD})

    assert response.status_code == 302
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(copy)
    assert len(rows(sessions_page(laptop))) == 1
    assert [r.ended_reason for r in records(person)] == ["password_changed", None]


def test_resetting_the_password_ends_every_session(client, new_client):
    person = make_person("sam@example.org")
    laptop, phone = new_client(), new_client()
    sign_in(laptop, person)
    sign_in(phone, person)
    post_form(client, "/forgot-password", {"email": person.email})
    from app.models import OutboundEmail

    message = db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id.desc())).first()
    link = re.search(r"http://pathways\.test(/set-password/\S+)", message.body_text).group(1)
    assert post_form(client, link, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}).status_code == 302

    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert is_signed_in(client)
    page = sessions_page(client)
    assert len(rows(page)) == 1 and "This device" in rows(page)[0]
    assert [r.ended_reason for r in records(person)] == ["superseded", "superseded", None]


# Cost ----------------------------------------------------------------------------------------------------------

# Statements a signed-in GET of the change-password page sends: one, for the person with their organisation, their
# roles and their session's record.
STATEMENTS_OF_A_SIGNED_IN_PAGE = 1


def test_checking_the_session_adds_no_statement_to_a_signed_in_page(client):
    sign_in(client, make_person("sam@example.org"))
    start = utcnow()
    with time_machine.travel(start, tick=True) as traveller:
        with counting_statements() as statements:
            assert client.get(PROTECTED).status_code == 200
        assert len(statements) == STATEMENTS_OF_A_SIGNED_IN_PAGE, statements
        with counting_statements() as statements:
            assert client.get(PROTECTED).status_code == 200
        assert len(statements) == STATEMENTS_OF_A_SIGNED_IN_PAGE, statements
        # Once a minute, one more: the session's last use.
        traveller.move_to(start + timedelta(seconds=61))
        with counting_statements() as statements:
            assert client.get(PROTECTED).status_code == 200
        assert len(statements) == STATEMENTS_OF_A_SIGNED_IN_PAGE + 1, statements
        assert statements[-1].lstrip().upper().startswith("UPDATE USER_SESSION")


def test_static_files_and_the_health_check_do_not_touch_the_database(client):
    sign_in(client, make_person("sam@example.org"))
    with counting_statements() as statements:
        assert client.get("/static/favicon.svg").status_code == 200
        assert client.get("/healthz").status_code == 200
    assert statements == []


# Purging -------------------------------------------------------------------------------------------------------


def test_old_session_records_are_purged_by_the_purge_attempts_job(client, new_client):
    person = make_person("sam@example.org")
    for _ in range(3):
        browser = new_client()
        sign_in(browser, person)
        sign_out(browser)
    sign_in(client, person)
    old_ended, recent_ended, old_expired, current = records(person)
    old_ended.ended_at = utcnow() - timedelta(days=31)
    recent_ended.ended_at = utcnow() - timedelta(days=29)
    old_expired.ended_at = None
    old_expired.created_at = utcnow() - timedelta(days=32)
    old_expired.expires_at = utcnow() - timedelta(days=31)
    db.session.commit()

    run = scheduling.run_job("purge-attempts", scheduling.RUN_ONCE)

    assert run.outcome.value == "succeeded"
    assert run.counts["signed-in sessions"] == 2
    assert [r.id for r in records(person)] == [recent_ended.id, current.id]
    assert is_signed_in(client)


def test_pathways_refuses_to_start_with_an_absolute_lifetime_under_an_hour():
    for hours in (0, -3):
        with pytest.raises(RuntimeError, match=rf"SESSION_ABSOLUTE_HOURS must be a whole number of hours, 1 or more; "
                                               rf"got {hours}"):
            create_app("testing", SESSION_ABSOLUTE_HOURS=hours)


def test_the_session_cookie_is_signed_again_only_as_it_ages(client):
    """Signing the cookie costs every response a serialisation, a compression and an HMAC: it is done again only
    once the cookie is a minute old (a quarter of the idle lifetime at most), which still keeps an active session
    alive."""
    sign_in(client, make_person("sam@example.org"))
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        first = client.get(PROTECTED)
        traveller.move_to(start + timedelta(seconds=30))
        second = client.get(PROTECTED)
        traveller.move_to(start + timedelta(seconds=91))
        third = client.get(PROTECTED)
    assert "Set-Cookie" not in second.headers
    assert first.status_code == second.status_code == 200
    assert "pathways_session=" in third.headers["Set-Cookie"]


def test_a_visitor_with_no_session_gets_no_cookie(new_client):
    assert "Set-Cookie" not in new_client().get("/healthz").headers
