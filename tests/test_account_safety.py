"""Account safety: password reset requests are limited and look the same whether or not an account exists;
sign-ins slow down progressively and tell the holder; password changes are announced; links to set a password
work once, are kept only as a hash, are hidden on the Outbox page in production and purged with old email."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import event, func, select, update

from app import create_app
from app.extensions import db
from app.models import AuditEvent, OutboundEmail, Person
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import accounts, outbox, scheduling
from app.services.passwords import verify_password
from tests.conftest import PASSWORD, TEST_SETTINGS, IsolatedClient, csrf_token, make_person, post_form, sign_in
from tests.pages import html_of, page_title, text_of

NEW_PASSWORD = "violet-lantern-orbit-meadow"
LINK = re.compile(r"http://pathways\.test(/set-password/[^\s]+)")
WRONG = "not-the-password-at-all"


def emails_to(address: str, purpose: str | None = None) -> list[OutboundEmail]:
    db.session.expire_all()
    query = select(OutboundEmail).where(OutboundEmail.recipient == address).order_by(OutboundEmail.id)
    if purpose is not None:
        query = query.where(OutboundEmail.purpose == purpose)
    return db.session.scalars(query).all()


def link_in(message: OutboundEmail) -> str:
    match = LINK.search(message.body_text)
    assert match, message.body_text
    return match.group(1)


def main_text(response) -> str:
    """The visible text inside <main>."""
    match = re.search(r"<main[^>]*>(.*?)</main>", html_of(response), re.S)
    assert match
    without_tokens = re.sub(r'name="csrf_token"[^>]*>', "", match.group(1))
    return " ".join(re.sub(r"<[^>]+>", " ", without_tokens).split())


def error_of(response, field: str = "email") -> str | None:
    match = re.search(rf'<p id="{field}-error" class="govuk-error-message">\s*'
                      r'<span class="govuk-visually-hidden">Error:</span>\s*(.*?)\s*</p>', html_of(response), re.S)
    return match.group(1) if match else None


def ask_for_reset(browser, email: str, **kwargs):
    return post_form(browser, "/forgot-password", {"email": email}, **kwargs)


def try_sign_in(browser, email: str, password: str, address: str = "127.0.0.1"):
    return post_form(browser, "/sign-in", {"email": email, "password": password},
                     environ_base={"REMOTE_ADDR": address})


def wait_asked(response) -> str:
    """The wait a throttled sign-in asks for, e.g. '15 minutes'."""
    assert response.status_code == 429, response.status_code
    message = error_of(response)
    match = re.search(r"Wait (\d+ minutes?) and try again", message or "")
    assert match, message
    return match.group(1)


def at_once(count: int, work) -> list:
    """Run ``work(number)`` in ``count`` threads that start together; their results in order."""
    results: list = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            results[number] = work(number, start)
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


# Asking for a password reset ----------------------------------------------------------------------------


def test_64_requests_to_reset_one_address_in_a_minute_queue_only_the_limit(app, new_client):
    make_person("sam@example.org")
    limit = app.config.get("PASSWORD_RESET_MAX_PER_ADDRESS", 3)

    def eight_requests(address):
        def work(number, start):
            browser = new_client()
            token = csrf_token(browser, "/forgot-password")
            start.wait()
            return [browser.post("/forgot-password", data={"csrf_token": token, "email": address}).status_code
                    for _ in range(8)]
        return work

    statuses = {}
    for address in ("sam@example.org", "nobody@example.org"):
        statuses[address] = sorted(code for codes in at_once(8, eight_requests(address)) for code in codes)

    assert len(emails_to("sam@example.org")) == limit
    assert emails_to("nobody@example.org") == []
    # An address with an account and one without are answered alike.
    assert statuses["sam@example.org"] == statuses["nobody@example.org"] == [200] * limit + [429] * (64 - limit)


def test_the_limit_for_an_address_says_the_same_whether_or_not_it_has_an_account(app, client):
    make_person("sam@example.org")
    limit = app.config["PASSWORD_RESET_MAX_PER_ADDRESS"]
    for _ in range(limit):
        ask_for_reset(client, "sam@example.org")
        ask_for_reset(client, "nobody@example.org")
    known, unknown = ask_for_reset(client, "Sam@example.org"), ask_for_reset(client, "nobody@example.org")
    assert known.status_code == unknown.status_code == 429
    assert page_title(known).startswith("Error:")
    assert "Too many requests to reset the password of this email address" in error_of(known)
    assert main_text(known).replace("Sam@example.org", "x") == main_text(unknown).replace("nobody@example.org", "x")
    assert len(emails_to("sam@example.org")) == limit


def test_one_client_address_asking_for_many_addresses_is_limited(app, client, new_client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_PER_CLIENT", 5)
    for number in range(5):
        make_person(f"person{number}@example.org")
    spraying = {"REMOTE_ADDR": "198.51.100.9"}
    answers = [ask_for_reset(client, f"person{number}@example.org", environ_base=spraying).status_code
               for number in range(5)]
    refused = ask_for_reset(client, "person0@example.org", environ_base=spraying)
    assert answers == [200] * 5
    assert refused.status_code == 429
    assert "Too many requests to reset a password from your network" in error_of(refused)
    # Someone elsewhere is not held up.
    assert ask_for_reset(new_client(), "person0@example.org",
                         environ_base={"REMOTE_ADDR": "203.0.113.4"}).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 6


def _statements_of(request) -> tuple[object, list[str]]:
    seen: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = request()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return response, seen


def test_an_address_with_an_account_and_one_without_get_the_same_page_and_the_same_work(client):
    make_person("sam@example.org", name="Sam Rivera")
    gone = make_person("gone@example.org")
    accounts.deactivate_person(None, gone, "Left")
    db.session.commit()
    ask_for_reset(client, "warm-up@example.org")  # the first request of a process compiles what it needs

    token = csrf_token(client, "/forgot-password")
    runs = {}
    for address in ("sam@example.org", "nobody@example.org", "gone@example.org"):
        runs[address] = _statements_of(
            lambda address=address: client.post("/forgot-password", data={"csrf_token": token, "email": address}))

    known_page, known = runs["sam@example.org"]
    for address in ("nobody@example.org", "gone@example.org"):
        page, statements = runs[address]
        assert page.status_code == known_page.status_code == 200
        assert main_text(page).replace(address, "x") == main_text(known_page).replace("sam@example.org", "x")
        # The same statements in the same order: the link and the email are made and written either way; only
        # whether the email is kept differs (the savepoint it was written in is released or rolled back).
        ends = re.compile(r"^(RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) ")
        assert [ends.sub("END SAVEPOINT ", s) for s in statements] == [ends.sub("END SAVEPOINT ", s) for s in known]
        assert any(s.startswith("INSERT INTO outbound_email") for s in statements)
    assert len(emails_to("sam@example.org")) == 1
    assert emails_to("nobody@example.org") == emails_to("gone@example.org") == []


# Sign-in throttling -------------------------------------------------------------------------------------


def test_each_further_failure_doubles_the_wait_and_other_accounts_behind_the_address_still_sign_in(
    app, client, new_client
):
    sam = make_person("sam@example.org")
    make_person("kim@example.org")
    office = "198.51.100.20"
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert try_sign_in(client, sam.email, WRONG, office).status_code == 200
    assert wait_asked(try_sign_in(client, sam.email, PASSWORD, office)) == "15 minutes"

    start = utcnow()
    waited = timedelta()
    for expected in ("30 minutes", "60 minutes", "60 minutes"):
        waited += timedelta(minutes=int(wait_asked(try_sign_in(client, sam.email, PASSWORD, office)).split()[0]),
                            seconds=5)
        with time_machine.travel(start + waited, tick=True):
            # Once the wait is over, a guess is checked again; a wrong one makes the next wait twice as long.
            assert try_sign_in(client, sam.email, WRONG, office).status_code == 200
            assert wait_asked(try_sign_in(client, sam.email, PASSWORD, office)) == expected

    with time_machine.travel(start + waited, tick=True):
        # Colleagues behind the same address mistype their own passwords, more than the old limit of 20...
        for number in range(25):
            assert try_sign_in(new_client(), f"colleague{number}@example.org", WRONG, office).status_code == 200
        # ...and another account signs in from there all the same.
        assert try_sign_in(new_client(), "kim@example.org", PASSWORD, office).status_code == 302


def test_the_holder_is_emailed_once_when_their_sign_ins_are_slowed_down(app, client):
    sam = make_person("sam@example.org", name="Sam Rivera")
    attacker = "203.0.113.50"
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit - 1):
        try_sign_in(client, sam.email, WRONG, attacker)
    assert emails_to(sam.email) == []
    try_sign_in(client, sam.email, WRONG, attacker)
    for _ in range(5):
        wait_asked(try_sign_in(client, sam.email, WRONG, attacker))
    [notice] = emails_to(sam.email)
    assert notice.purpose == "sign_in_throttled"
    assert "Dear Sam Rivera" in notice.body_text
    assert f"{limit} times" in notice.body_text
    assert "http://pathways.test/forgot-password" in notice.body_text
    assert "/set-password/" not in notice.body_text

    # The next wait, and the next failure: still the one email.
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=True):
        assert try_sign_in(client, sam.email, WRONG, attacker).status_code == 200
        wait_asked(try_sign_in(client, sam.email, WRONG, attacker))
    assert len(emails_to(sam.email)) == 1
    # Nobody is emailed about an address without an account.
    for _ in range(limit + 1):
        try_sign_in(client, "nobody@example.org", WRONG, attacker)
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "person.sign_in_throttled")) == 1


def test_the_holder_still_signs_in_from_where_they_usually_do_while_someone_elsewhere_guesses(app, new_client):
    sam = make_person("sam@example.org")
    home = new_client()
    assert try_sign_in(home, sam.email, PASSWORD, "192.0.2.10").status_code == 302
    attacker = new_client()
    for _ in range(app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"] + 3):
        try_sign_in(attacker, sam.email, WRONG, "203.0.113.66")
    wait_asked(try_sign_in(attacker, sam.email, PASSWORD, "203.0.113.66"))
    assert try_sign_in(new_client(), sam.email, PASSWORD, "192.0.2.10").status_code == 302


# Password changes are announced ---------------------------------------------------------------------------


def test_the_holder_is_emailed_when_their_password_changes(client, new_client):
    sam = make_person("sam@example.org", name="Sam Rivera")
    sign_in(client, sam)
    response = post_form(client, "/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                                        "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    [changed] = emails_to(sam.email, "password_changed")
    assert changed.subject == "Your Pathways password has been changed"
    assert "Dear Sam Rivera" in changed.body_text
    assert "http://pathways.test/forgot-password" in changed.body_text

    browser = new_client()
    ask_for_reset(browser, sam.email)
    link = link_in(emails_to(sam.email, "password_reset")[-1])
    assert post_form(browser, link, {"password": "amber-kettle-harbour-frost",
                                     "confirm_password": "amber-kettle-harbour-frost"}).status_code == 302
    assert len(emails_to(sam.email, "password_changed")) == 2

    # Setting a first password from an invitation changes nothing to warn about.
    make_person("new@example.org", password=None)
    invitation = link_in(emails_to("new@example.org", "invitation")[-1])
    assert post_form(new_client(), invitation, {"password": NEW_PASSWORD,
                                                "confirm_password": NEW_PASSWORD}).status_code == 302
    assert emails_to("new@example.org", "password_changed") == []


# Links to set a password ----------------------------------------------------------------------------------


def test_one_reset_link_used_by_two_browsers_at_once_sets_the_password_once(app, new_client, monkeypatch):
    # A dearer hash (as in production) keeps both requests inside the check for longer.
    monkeypatch.setitem(app.config, "ARGON2_MEMORY_KIB", 16384)
    for round_ in range(3):
        person = make_person(f"sam{round_}@example.org")
        ask_for_reset(new_client(), person.email)
        link = link_in(emails_to(person.email)[-1])
        browsers = [new_client(), new_client()]
        tokens = [csrf_token(browser, link) for browser in browsers]
        passwords = ["amber-kettle-harbour-frost", "cobalt-willow-lantern-drift"]

        def use(number, start, browsers=browsers, tokens=tokens, passwords=passwords, link=link):
            start.wait()
            return browsers[number].post(link, data={"csrf_token": tokens[number], "password": passwords[number],
                                                     "confirm_password": passwords[number]})

        responses = at_once(2, use)
        codes = [r.status_code for r in responses]
        assert codes.count(302) == 1, (round_, codes)
        # The other is told the link is used: on the form, or, if it arrived after the first had finished, on
        # the page for a link that does not work.
        loser = next(r for r in responses if r.status_code != 302)
        assert loser.status_code in (200, 400)
        assert "This link has already been used" in text_of(loser)
        winner = passwords[codes.index(302)]
        db.session.expire_all()
        assert verify_password(db.session.get(Person, person.id).password_hash, winner)
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "person.password_set", AuditEvent.subject_id == person.id)) == 1
        # And afterwards, not at all.
        again = new_client()
        assert again.get(link).status_code == 400
        assert "This link has already been used" in text_of(again.get(link))


def test_a_link_is_never_stored_and_a_used_one_only_as_the_hash_of_its_token(client):
    from app.models import UsedLink

    make_person("new@example.org", password=None)
    person = make_person("sam@example.org")
    ask_for_reset(client, person.email)
    tokens = [link_in(message).rsplit("/", 1)[1] for message in emails_to("new@example.org") + emails_to(person.email)]

    def stored_anywhere_but_the_email() -> list[str]:
        db.session.expire_all()
        return [table.name for table in db.metadata.sorted_tables if table.name != "outbound_email"
                for row in db.session.execute(select(table)).all() if any(token in repr(row) for token in tokens)]

    assert stored_anywhere_but_the_email() == []
    for token in tokens:
        assert post_form(client, f"/set-password/{token}", {"password": NEW_PASSWORD,
                                                             "confirm_password": NEW_PASSWORD}).status_code == 302
        client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})
    assert stored_anywhere_but_the_email() == []
    assert sorted(db.session.scalars(select(UsedLink.token_digest))) == sorted(
        hashlib.sha256(token.encode()).hexdigest() for token in tokens)
    for token in tokens:
        refused = client.get(f"/set-password/{token}")
        assert refused.status_code == 400
        assert "This link has already been used" in text_of(refused)


# The Outbox page -----------------------------------------------------------------------------------------


@pytest.fixture
def production_browser(database_url, monkeypatch):
    """A browser on Pathways in production settings, on the test database."""
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    production = create_app("production", SQLALCHEMY_DATABASE_URI=database_url, **TEST_SETTINGS)
    production.test_client_class = IsolatedClient
    browser = production.test_client()
    # Over HTTPS, as production is served: its session cookie is Secure, and forms check where they came from.
    browser.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/"})
    yield browser
    with production.app_context():
        db.engine.dispose()


def test_the_outbox_in_production_hides_links_to_set_a_password(client, production_browser):
    import config

    assert config.DevelopmentConfig.OUTBOX_SHOWS_LINKS is True  # demo invitations can be followed
    admin = make_person("admin@example.org", name="Alex Admin", roles=("admin",), organisation_code="LC")
    make_person("new@example.org", name="Nia Okafor", password=None)
    sam = make_person("sam@example.org", name="Sam Rivera")
    ask_for_reset(client, sam.email)
    messages = emails_to("new@example.org") + emails_to(sam.email)
    links = [link_in(message) for message in messages]
    client = production_browser
    sign_in(client, admin)

    listing = client.get("/admin/outbox")
    assert listing.status_code == 200
    assert text_of(listing).count("link hidden") == 2
    for message, link in zip(messages, links, strict=True):
        shown = client.get(f"/admin/outbox/{message.id}")
        assert shown.status_code == 200
        html = html_of(shown)
        assert "/set-password/" not in html and link.rsplit("/", 1)[1] not in html
        assert "link hidden" in text_of(shown)
        assert message.recipient in text_of(shown)

    # Messages without such a link are shown whole.
    outbox.queue_email(sam.email, "password_changed", "password_changed", person=sam,
                       forgot_link="http://pathways.test/forgot-password", changed_at=utcnow())
    db.session.commit()
    [notice] = emails_to(sam.email, "password_changed")
    assert "Dear Sam Rivera" in text_of(client.get(f"/admin/outbox/{notice.id}"))
    assert "link hidden" not in text_of(client.get(f"/admin/outbox/{notice.id}"))


# Purging old email ----------------------------------------------------------------------------------------


def _mark_sent(*messages: OutboundEmail) -> None:
    db.session.execute(update(OutboundEmail).where(OutboundEmail.id.in_([m.id for m in messages]))
                       .values(status=EmailStatus.SENT, sent_at=utcnow(), attempts=1))
    db.session.commit()


def test_the_purge_blanks_sent_links_after_a_week_and_deletes_sent_email_after_90_days(app, client):
    from app.models import Reminder

    sam = make_person("sam@example.org", name="Sam Rivera")
    make_person("new@example.org", password=None)
    ask_for_reset(client, sam.email)
    [invitation] = emails_to("new@example.org")
    [reset] = emails_to(sam.email)
    other = outbox.queue_email(sam.email, "password_changed", "password_changed", person=sam,
                               forgot_link="http://pathways.test/forgot-password", changed_at=utcnow())
    reminded = outbox.queue_email(sam.email, "reminder", "password_changed", person=sam,
                                  forgot_link="http://pathways.test/forgot-password", changed_at=utcnow())
    waiting = outbox.queue_email("kim@example.org", "invitation", "invitation", person=sam, inviter=None,
                                 link="http://pathways.test/set-password/still-queued", valid_days=7)
    db.session.flush()
    db.session.add(Reminder(key="test:1", person_id=sam.id, kind="test", essential=True, email_id=reminded.id))
    db.session.commit()
    _mark_sent(invitation, reset, other, reminded)
    start = utcnow()

    def purge():
        run = scheduling.run_job("purge-attempts", scheduling.RUN_ONCE)
        assert run.outcome.value == "succeeded", run.error
        db.session.expire_all()
        return run

    with time_machine.travel(start + timedelta(days=6), tick=True):
        purge()
        assert "/set-password/" in db.session.get(OutboundEmail, reset.id).body_text
    with time_machine.travel(start + timedelta(days=7, hours=1), tick=True):
        assert purge().counts["link email bodies removed"] == 2
        for message in (invitation, reset):
            body = db.session.get(OutboundEmail, message.id).body_text
            assert "/set-password/" not in body and "Dear" not in body
            assert "removed" in body.lower()
        assert "Dear Sam Rivera" in db.session.get(OutboundEmail, other.id).body_text
        assert "/set-password/still-queued" in db.session.get(OutboundEmail, waiting.id).body_text  # not sent yet
        assert purge().counts["link email bodies removed"] == 0  # done once
    with time_machine.travel(start + timedelta(days=90, hours=1), tick=True):
        run = purge()
        assert sorted(db.session.scalars(select(OutboundEmail.id))) == sorted([reminded.id, waiting.id])
        assert run.counts["old email deleted"] == 3
        # A reminder's email is kept, as the record that it went out, without its words.
        assert "Dear" not in db.session.get(OutboundEmail, reminded.id).body_text
        assert run.counts["old email bodies removed"] == 1
        assert run.counts["password reset requests"] == 1
