"""Signing in and out, throttling, sessions, invitations, password resets and password changes."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, OutboundEmail, Person, SignInAttempt
from app.services import accounts
from app.services.passwords import hash_password, verify_password
from app.services.signing_in import WRONG_DETAILS
from tests.conftest import PASSWORD, csrf_token, make_person, post_form, sign_in

NEW_PASSWORD = "violet-lantern-orbit-meadow"
PROTECTED = "/account/password"
LINK = re.compile(r"http://pathways\.test(/set-password/[^\s]+)")


# Reading pages ------------------------------------------------------------------------------


def html_of(response) -> str:
    return response.get_data(as_text=True)


def page_title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html, re.S)
    assert match, "page has no title"
    return unescape(match.group(1)).strip()


def field_error(html: str, field: str) -> str | None:
    """The error message shown beside ``field``, without its hidden "Error:" prefix."""
    match = re.search(
        rf'<p id="{field}-error" class="govuk-error-message">\s*'
        r'<span class="govuk-visually-hidden">Error:</span>\s*(.*?)\s*</p>',
        html,
        re.S,
    )
    return unescape(match.group(1)) if match else None


def error_summary(html: str) -> dict[str, str]:
    """The error summary's links: field id -> message."""
    match = re.search(r'govuk-error-summary__list">(.*?)</ul>', html, re.S)
    if not match:
        return {}
    links = re.findall(r'<a href="#([^"]+)">(.*?)</a>', match.group(1))
    return {field: unescape(text) for field, text in links}


def main_content(html: str) -> str:
    """The text inside <main>, tags removed, whitespace collapsed."""
    match = re.search(r"<main[^>]*>(.*?)</main>", html, re.S)
    assert match
    without_tokens = re.sub(r'name="csrf_token"[^>]*>', "", match.group(1))
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", without_tokens)).split())


# State in the database ------------------------------------------------------------------------


def fresh(person: Person) -> Person:
    """``person`` as the database holds it now (requests run in sessions of their own)."""
    db.session.expire_all()
    return db.session.get(Person, person.id)


def emails_to(address: str) -> list[OutboundEmail]:
    db.session.expire_all()
    return db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.recipient == address).order_by(OutboundEmail.id)
    ).all()


def link_in(message: OutboundEmail) -> str:
    match = LINK.search(message.body_text)
    assert match, message.body_text
    return match.group(1)


def attempts(**where) -> int:
    query = select(func.count()).select_from(SignInAttempt)
    for column, value in where.items():
        query = query.where(getattr(SignInAttempt, column) == value)
    return db.session.scalar(query)


# Using Pathways -----------------------------------------------------------------------------------


def try_sign_in(client, email: str, password: str, path: str = "/sign-in"):
    return post_form(client, path, {"email": email, "password": password})


def is_signed_in(client) -> bool:
    response = client.get(PROTECTED)
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/sign-in")
        return False
    assert response.status_code == 200
    return True


def sign_out(client):
    return client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})


def reset_link_for(client, person: Person) -> str:
    post_form(client, "/forgot-password", {"email": person.email})
    return link_in(emails_to(person.email)[-1])


def choose_password(client, link: str, password: str = NEW_PASSWORD, confirmation: str | None = None):
    return post_form(client, link, {"password": password,
                                    "confirm_password": password if confirmation is None else confirmation})


# Signing in ---------------------------------------------------------------------------------------


def test_sign_in_with_right_details_goes_home_and_greets_the_person(client):
    person = make_person("sam@example.org", name="Sam Rivera")
    response = try_sign_in(client, "sam@example.org", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = html_of(client.get("/"))
    assert "Welcome, Sam Rivera" in home
    assert "Signed in as <strong>Sam Rivera</strong>" in home
    assert fresh(person).last_signed_in_at is not None
    assert attempts(succeeded=True) == 1


def test_sign_in_ignores_case_and_surrounding_spaces_in_the_email(client):
    make_person("sam@example.org", name="Sam Rivera")
    assert try_sign_in(client, "  Sam@Example.ORG ", PASSWORD).status_code == 302
    assert is_signed_in(client)


def test_signed_in_person_visiting_sign_in_is_sent_home(client):
    person = make_person()
    sign_in(client, person)
    response = client.get("/sign-in")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_email_give_the_same_answer(client):
    make_person("sam@example.org")
    wrong_password = try_sign_in(client, "sam@example.org", "not-the-password-at-all")
    unknown_email = try_sign_in(client, "nobody@example.org", "not-the-password-at-all")
    for response in (wrong_password, unknown_email):
        html = html_of(response)
        assert response.status_code == 200
        assert page_title(html) == "Error: Sign in – Pathways"
        assert field_error(html, "email") == WRONG_DETAILS == "Enter a correct email address and password"
        assert error_summary(html) == {"email": WRONG_DETAILS}
        assert field_error(html, "password") is None
    # Apart from the address typed back, the two pages say exactly the same thing.
    assert main_content(html_of(wrong_password)).replace("sam@", "x@") == main_content(
        html_of(unknown_email)
    ).replace("nobody@", "x@")
    assert not is_signed_in(client)
    assert attempts(succeeded=False) == 2


def test_password_is_not_echoed_back_after_a_failure(client):
    make_person("sam@example.org")
    html = html_of(try_sign_in(client, "sam@example.org", "guessed-secret-value"))
    assert "guessed-secret-value" not in html
    assert 'value="sam@example.org"' in html


@pytest.mark.parametrize(
    ("email", "password", "errors"),
    [
        ("", "", {"email": "Enter your email address", "password": "Enter your password"}),
        ("sam@example.org", "", {"password": "Enter your password"}),
        ("", PASSWORD, {"email": "Enter your email address"}),
    ],
)
def test_empty_fields_give_field_errors(client, email, password, errors):
    make_person("sam@example.org")
    response = try_sign_in(client, email, password)
    html = html_of(response)
    assert response.status_code == 200
    assert page_title(html).startswith("Error:")
    for field in ("email", "password"):
        assert field_error(html, field) == errors.get(field)
    assert error_summary(html) == errors
    assert attempts() == 0  # nothing was checked, so nothing counts against anyone
    assert not is_signed_in(client)


def test_deactivated_person_cannot_sign_in_and_is_signed_out_everywhere(client, new_client, app):
    person = make_person("sam@example.org")
    elsewhere = new_client()
    sign_in(elsewhere, person)
    accounts.deactivate_person(None, fresh(person), "Left the programme")
    db.session.commit()

    assert not is_signed_in(elsewhere)
    html = html_of(try_sign_in(client, "sam@example.org", PASSWORD))
    assert field_error(html, "email") == WRONG_DETAILS
    assert not is_signed_in(client)


def test_invited_person_without_a_password_cannot_sign_in(client):
    make_person("new@example.org", password=None)
    html = html_of(try_sign_in(client, "new@example.org", "anything-they-might-try"))
    assert field_error(html, "email") == WRONG_DETAILS
    assert not is_signed_in(client)


def test_protected_page_sends_to_sign_in_and_back_again(client):
    make_person("sam@example.org")
    response = client.get(PROTECTED)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=%2Faccount%2Fpassword"
    # A failed attempt keeps the destination.
    try_sign_in(client, "sam@example.org", "wrong-password-here", path=response.headers["Location"])
    response = try_sign_in(client, "sam@example.org", PASSWORD, path=response.headers["Location"])
    assert response.status_code == 302
    assert response.headers["Location"] == PROTECTED


@pytest.mark.parametrize("target", ["/people", "/account/password", "/people?page=2&role=learner"])
def test_next_is_followed_when_it_is_a_local_path(client, target):
    make_person("sam@example.org")
    response = client.post(f"/sign-in?next={target.replace('&', '%26')}", data={
        "email": "sam@example.org", "password": PASSWORD, "csrf_token": csrf_token(client),
    })
    assert response.status_code == 302
    assert response.headers["Location"] == target


UNSAFE_TARGETS = [
    "https://evil.example",
    "https://evil.example/sign-in",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/\t/evil.example",  # browsers drop the tab and read "//evil.example"
]


def test_next_is_ignored_unless_it_is_a_local_path(new_client):
    make_person("sam@example.org")
    for target in UNSAFE_TARGETS:
        visitor = new_client()
        response = visitor.post("/sign-in", query_string={"next": target}, data={
            "email": "sam@example.org", "password": PASSWORD, "csrf_token": csrf_token(visitor),
        })
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/", target


def test_sign_in_upgrades_an_outdated_password_hash(client, app, monkeypatch):
    person = make_person("sam@example.org")
    old_hash = fresh(person).password_hash
    assert "t=1," in old_hash
    monkeypatch.setitem(app.config, "ARGON2_TIME_COST", 2)
    sign_in(client, person)
    new_hash = fresh(person).password_hash
    assert new_hash != old_hash and "t=2," in new_hash
    assert verify_password(new_hash, PASSWORD)


# Throttling ---------------------------------------------------------------------------------------


def assert_throttled(response):
    html = html_of(response)
    assert response.status_code == 429
    assert page_title(html).startswith("Error:")
    message = field_error(html, "email")
    assert message and message.startswith("Too many attempts to sign in.")
    assert error_summary(html) == {"email": message}
    return message


def test_account_is_throttled_after_too_many_failures_even_with_the_right_password(client, new_client, app):
    person = make_person("sam@example.org")
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for number in range(limit):
        # However the address is written, it is the same account.
        email = "sam@example.org" if number % 2 else " SAM@example.org"
        response = try_sign_in(client, email, f"wrong-guess-{number}")
        assert response.status_code == 200
        assert field_error(html_of(response), "email") == WRONG_DETAILS

    message = assert_throttled(try_sign_in(client, "sam@example.org", PASSWORD))
    minutes = app.config["SIGN_IN_WINDOW_MINUTES"]
    assert f"Wait {minutes} minutes and try again, or reset your password." in message
    assert not is_signed_in(client)
    assert fresh(person).last_signed_in_at is None
    # The limit is per account: another address is refused too.
    elsewhere = new_client()
    assert_throttled(post_form(elsewhere, "/sign-in", {"email": "sam@example.org", "password": PASSWORD},
                               environ_base={"REMOTE_ADDR": "192.0.2.77"}))
    assert not is_signed_in(elsewhere)
    # Refused attempts are not counted, so they do not prolong the wait.
    assert attempts() == limit


def test_unknown_email_is_throttled_in_the_same_way(client, app):
    make_person("sam@example.org")
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for number in range(limit):
        try_sign_in(client, "sam@example.org", f"wrong-guess-{number}")
        try_sign_in(client, "nobody@example.org", f"wrong-guess-{number}")
    existing = try_sign_in(client, "sam@example.org", "another-guess-here")
    unknown = try_sign_in(client, "nobody@example.org", "another-guess-here")
    assert assert_throttled(existing) == assert_throttled(unknown)
    assert main_content(html_of(existing)).replace("sam@", "x@") == main_content(
        html_of(unknown)
    ).replace("nobody@", "x@")


def test_client_address_is_throttled_across_different_emails(client, new_client, app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_MAX_FAILURES_PER_ADDRESS", 4)
    person = make_person("sam@example.org")
    attacker = {"REMOTE_ADDR": "198.51.100.7"}
    for number in range(4):
        guess = {"email": f"guess{number}@example.org", "password": "a-guess-here"}
        response = post_form(client, "/sign-in", guess, environ_base=attacker)
        assert response.status_code == 200
    assert attempts(client_address="198.51.100.7", succeeded=False) == 4

    assert_throttled(post_form(client, "/sign-in", {"email": "sam@example.org", "password": PASSWORD},
                               environ_base=attacker))
    assert fresh(person).last_signed_in_at is None
    # The account itself is not locked: from another address its owner signs in.
    response = post_form(new_client(), "/sign-in", {"email": "sam@example.org", "password": PASSWORD},
                         environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 302


def test_a_success_clears_earlier_failures_for_that_account(client, app):
    person = make_person("sam@example.org")
    make_person("other@example.org")
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for number in range(limit - 1):
        try_sign_in(client, "sam@example.org", f"wrong-guess-{number}")
        try_sign_in(client, "other@example.org", f"wrong-guess-{number}")
    sign_in(client, person)
    sign_out(client)
    for number in range(limit - 1):
        try_sign_in(client, "sam@example.org", f"wrong-guess-again-{number}")
    # Without the clearing, this would be failure number 2 × (limit - 1) ≥ limit.
    assert try_sign_in(client, "sam@example.org", PASSWORD).status_code == 302
    sign_out(client)
    # Another account's failures are untouched.
    try_sign_in(client, "other@example.org", "one-more-guess")
    assert_throttled(try_sign_in(client, "other@example.org", PASSWORD))


def test_failures_older_than_the_window_no_longer_count(client, app):
    person = make_person("sam@example.org")
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    for number in range(limit):
        try_sign_in(client, "sam@example.org", f"wrong-guess-{number}")
    assert_throttled(try_sign_in(client, "sam@example.org", PASSWORD))

    window = timedelta(minutes=app.config["SIGN_IN_WINDOW_MINUTES"])
    for attempt in db.session.scalars(select(SignInAttempt)):
        attempt.at -= window + timedelta(seconds=5)
    db.session.commit()
    assert try_sign_in(client, "sam@example.org", PASSWORD).status_code == 302
    assert fresh(person).last_signed_in_at is not None


# CSRF ---------------------------------------------------------------------------------------------


def test_sign_in_without_a_csrf_token_is_refused(client):
    person = make_person("sam@example.org")
    client.get("/sign-in")
    response = client.post("/sign-in", data={"email": "sam@example.org", "password": PASSWORD})
    assert response.status_code == 400
    assert "Your form has expired" in html_of(response)
    assert not is_signed_in(client)
    assert attempts() == 0
    assert fresh(person).last_signed_in_at is None


def test_sign_in_with_another_sessions_csrf_token_is_refused(client, new_client, app):
    make_person("sam@example.org")
    someone_elses = csrf_token(new_client())
    client.get("/sign-in")
    response = client.post("/sign-in", data={"email": "sam@example.org", "password": PASSWORD,
                                             "csrf_token": someone_elses})
    assert response.status_code == 400
    assert not is_signed_in(client)
    assert attempts() == 0


def test_sign_out_without_a_csrf_token_is_refused(client):
    sign_in(client, make_person())
    assert client.post("/sign-out").status_code == 400
    assert is_signed_in(client)


# Sessions ---------------------------------------------------------------------------------------


def session_cookie_attributes(response) -> dict[str, str]:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("pathways_session=")]
    assert cookies, response.headers
    return {part.strip().split("=")[0].lower(): part.strip() for part in cookies[-1].split(";")}


def test_session_cookie_is_http_only_and_same_site_lax(client):
    for response in (sign_in(client, make_person()), client.get("/")):
        attributes = session_cookie_attributes(response)
        assert "httponly" in attributes
        assert attributes["samesite"] == "SameSite=Lax"
        assert "secure" not in attributes  # testing runs over plain http; production sets Secure


def test_idle_session_expires_but_activity_keeps_it_alive(client, app, monkeypatch):
    sign_in(client, make_person())
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", timedelta(seconds=1))
    for _ in range(2):
        time.sleep(0.5)
        assert is_signed_in(client)  # each request renews the session
    time.sleep(2.05)
    response = client.get(PROTECTED)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


# Signing out -------------------------------------------------------------------------------------


def test_sign_out_ends_the_session(client):
    sign_in(client, make_person(name="Sam Rivera"))
    response = sign_out(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert "You have signed out." in html_of(client.get("/sign-in"))
    assert not is_signed_in(client)
    assert "Sam Rivera" not in html_of(client.get("/"))


def test_sign_out_by_get_is_not_allowed(client):
    sign_in(client, make_person())
    assert client.get("/sign-out").status_code == 405
    assert is_signed_in(client)


# Forgotten passwords --------------------------------------------------------------------------------


def test_forgot_password_emails_a_link_to_an_existing_account(client):
    person = make_person("sam@example.org", name="Sam Rivera")
    response = post_form(client, "/forgot-password", {"email": "Sam@Example.org"})
    assert response.status_code == 200
    assert "Check your email" in page_title(html_of(response))
    [message] = emails_to("sam@example.org")
    assert message.subject == "Choose a new Pathways password"
    assert message.purpose == "password_reset"
    assert "Dear Sam Rivera" in message.body_text
    link = link_in(message)
    page = client.get(link)
    assert page.status_code == 200
    assert "Choose a new password" in page_title(html_of(page))
    assert person.email in html_of(page)


@pytest.mark.parametrize("setup", ["unknown", "deactivated"])
def test_forgot_password_says_the_same_and_sends_nothing_without_an_active_account(client, setup):
    make_person("sam@example.org")
    if setup == "deactivated":
        gone = make_person("gone@example.org")
        accounts.deactivate_person(None, gone, "Left")
        db.session.commit()
    address = "nobody@example.org" if setup == "unknown" else "gone@example.org"
    known = post_form(client, "/forgot-password", {"email": "sam@example.org"})
    response = post_form(client, "/forgot-password", {"email": address})
    assert response.status_code == known.status_code == 200
    assert page_title(html_of(response)) == page_title(html_of(known))
    assert main_content(html_of(response)).replace(address, "x") == main_content(html_of(known)).replace(
        "sam@example.org", "x"
    )
    assert emails_to(address) == []
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "Enter an email address in the correct format, like name@example.org"),
        ("sam@", "Enter an email address in the correct format, like name@example.org"),
        ("", "Enter your email address"),
    ],
)
def test_forgot_password_with_a_bad_address_shows_a_field_error(client, email, message):
    response = post_form(client, "/forgot-password", {"email": email})
    html = html_of(response)
    assert response.status_code == 200
    assert page_title(html).startswith("Error:")
    assert field_error(html, "email") == message
    assert error_summary(html) == {"email": message}
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0


# Links to set a password ----------------------------------------------------------------------------


def test_reset_link_sets_the_password_and_signs_the_person_in(client):
    person = make_person("sam@example.org", name="Sam Rivera")
    link = reset_link_for(client, person)
    response = choose_password(client, link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = html_of(client.get("/"))
    assert "Your password is set. You are signed in." in home
    assert "Welcome, Sam Rivera" in home
    stored = fresh(person)
    assert verify_password(stored.password_hash, NEW_PASSWORD)
    assert not verify_password(stored.password_hash, PASSWORD)
    assert db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "person.password_set")
    ) == 1

    sign_out(client)
    assert try_sign_in(client, "sam@example.org", PASSWORD).status_code == 200
    assert try_sign_in(client, "sam@example.org", NEW_PASSWORD).status_code == 302


def test_reset_link_works_once(client, new_client, app):
    person = make_person("sam@example.org")
    link = reset_link_for(client, person)
    choose_password(client, link)
    again = new_client()
    token = csrf_token(again)
    for response in (again.get(link), again.post(link, data={"password": "yet-another-passphrase",
                                                              "confirm_password": "yet-another-passphrase",
                                                              "csrf_token": token})):
        assert response.status_code == 400
        assert "This link has already been used" in html_of(response)
    assert verify_password(fresh(person).password_hash, NEW_PASSWORD)


def test_reset_link_stops_working_when_the_password_changes_another_way(client):
    person = make_person("sam@example.org")
    link = reset_link_for(client, person)
    sign_in(client, person)
    post_form(client, PROTECTED, {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                  "confirm_password": NEW_PASSWORD})
    response = client.get(link)
    assert response.status_code == 400
    assert "already been used" in html_of(response)


def test_links_expire(client, app, monkeypatch):
    person = make_person("sam@example.org")
    invited = make_person("new@example.org", password=None)
    reset_link = reset_link_for(client, person)
    invitation_link = link_in(emails_to("new@example.org")[-1])
    monkeypatch.setitem(app.config, "PASSWORD_RESET_VALID_MINUTES", 0)
    monkeypatch.setitem(app.config, "INVITATION_VALID_DAYS", 0)
    time.sleep(1.1)
    for link in (reset_link, invitation_link):
        response = client.get(link)
        assert response.status_code == 400
        assert "This link has expired. Ask for a new one." in html_of(response)
        response = client.post(link, data={"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
        assert response.status_code == 400
    assert verify_password(fresh(person).password_hash, PASSWORD)
    assert not fresh(invited).has_password


def _tampered(link: str) -> list[str]:
    token = link.rsplit("/", 1)[1]
    payload, stamp, signature = token.rsplit(".", 2)
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    return [
        f"{payload}.{stamp}.{flipped}",
        f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{stamp}.{signature}",
        f"{payload}.{signature}",
        token[:-5],
        "not-a-token",
    ]


def test_tampered_links_are_rejected(client):
    person = make_person("sam@example.org")
    link = reset_link_for(client, person)
    for token in _tampered(link):
        response = client.get(f"/set-password/{token}")
        assert response.status_code == 400, token
        assert "This link is not valid" in html_of(response)
    assert client.get(link).status_code == 200  # the real one still works


def test_links_signed_with_another_key_are_rejected(client, app):
    person = make_person("sam@example.org")
    genuine = client.get(reset_link_for(client, person))
    assert genuine.status_code == 200
    forger = URLSafeTimedSerializer("a-guessed-key", salt="pathways.password-link")
    fingerprint_guess = "0" * 24
    token = forger.dumps({"p": person.id, "k": "password_reset", "f": fingerprint_guess})
    response = client.get(f"/set-password/{token}")
    assert response.status_code == 400
    assert "This link is not valid" in html_of(response)


def test_link_for_a_deactivated_person_is_rejected(client):
    person = make_person("sam@example.org")
    link = reset_link_for(client, person)
    accounts.deactivate_person(None, fresh(person), "Left")
    db.session.commit()
    response = client.get(link)
    assert response.status_code == 400
    assert "not valid" in html_of(response)


@pytest.mark.parametrize(
    ("password", "confirmation", "field", "message"),
    [
        ("short-pass", None, "password", "Password must be 12 characters or more"),
        ("password1234", None, "password", "Password is too common; try three random words"),
        ("Password1234!", None, "password", "Password is too common; try three random words"),
        ("my-samrivera-secret", None, "password", "Password must not contain your email address"),
        (NEW_PASSWORD, "violet-lantern-orbit-meadoW", "confirm_password", "The passwords do not match"),
        ("", "", "password", "Enter a new password"),
    ],
)
def test_weak_or_mismatched_passwords_are_refused_and_nothing_changes(
    client, password, confirmation, field, message
):
    person = make_person("samrivera@example.org")
    before = fresh(person)
    hash_before, version_before = before.password_hash, before.session_version
    link = reset_link_for(client, person)
    response = choose_password(client, link, password, confirmation)
    html = html_of(response)
    assert response.status_code == 200
    assert page_title(html).startswith("Error:")
    assert field_error(html, field) == message
    assert error_summary(html).get(field) == message
    after = fresh(person)
    assert (after.password_hash, after.session_version) == (hash_before, version_before)
    assert not is_signed_in(client)
    assert client.get(link).status_code == 200  # the link was not used up


def test_setting_a_password_ends_the_persons_other_sessions(client, new_client, app):
    person = make_person("sam@example.org")
    bystander = make_person("other@example.org")
    laptop, phone, someone_else = new_client(), new_client(), new_client()
    sign_in(laptop, person)
    sign_in(phone, person)
    sign_in(someone_else, bystander)

    assert choose_password(client, reset_link_for(client, person)).status_code == 302
    assert is_signed_in(client)
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert is_signed_in(someone_else)


def test_invited_person_sets_a_password_and_signs_in(client):
    person = make_person("new@example.org", name="Nia Okafor", password=None)
    [invitation] = emails_to("new@example.org")
    assert invitation.subject == "You have been invited to Pathways"
    assert invitation.purpose == "invitation"
    assert "expires in 7 days" in invitation.body_text
    link = link_in(invitation)

    page = client.get(link)
    assert page.status_code == 200
    assert page_title(html_of(page)) == "Set up your account – Pathways"
    response = choose_password(client, link)
    assert response.status_code == 302
    assert "Welcome, Nia Okafor" in html_of(client.get("/"))
    assert fresh(person).has_password

    sign_out(client)
    assert try_sign_in(client, "new@example.org", NEW_PASSWORD).status_code == 302
    # The invitation cannot be used again.
    assert "already been used" in html_of(client.get(link))


def test_invitation_sent_from_the_command_line_lets_the_person_in(client, runner):
    person = make_person("new@example.org", name="Nia Okafor", password=None)
    result = runner.invoke(args=["users", "invite", "new@example.org"])
    assert result.exit_code == 0, result.output
    assert "Invitation queued for new@example.org" in result.output
    invitations = emails_to("new@example.org")
    assert len(invitations) == 2
    assert choose_password(client, link_in(invitations[-1])).status_code == 302
    assert verify_password(fresh(person).password_hash, NEW_PASSWORD)


def test_a_resent_invitation_replaces_the_first_once_either_is_used(client):
    make_person("new@example.org", password=None)
    person = db.session.scalar(select(Person).where(Person.email == "new@example.org"))
    accounts.send_invitation(None, person)
    db.session.commit()
    first, second = (link_in(message) for message in emails_to("new@example.org"))
    assert client.get(first).status_code == client.get(second).status_code == 200
    assert choose_password(client, second).status_code == 302
    assert client.get(first).status_code == 400


def test_invited_person_who_asks_for_a_reset_gets_a_working_link(client):
    person = make_person("new@example.org", password=None)
    link = reset_link_for(client, person)
    assert page_title(html_of(client.get(link))) == "Set up your account – Pathways"
    assert choose_password(client, link).status_code == 302
    assert verify_password(fresh(person).password_hash, NEW_PASSWORD)


# Changing a password --------------------------------------------------------------------------------


def change_password(client, current: str, new: str = NEW_PASSWORD, confirmation: str | None = None):
    confirmation = new if confirmation is None else confirmation
    return post_form(client, PROTECTED, {"current_password": current, "password": new,
                                         "confirm_password": confirmation})


def test_change_password_needs_sign_in(client):
    response = client.get(PROTECTED)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")
    response = client.post(PROTECTED, data={"current_password": PASSWORD, "password": NEW_PASSWORD,
                                            "confirm_password": NEW_PASSWORD,
                                            "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_change_password_with_a_wrong_current_password(client):
    person = make_person("sam@example.org")
    sign_in(client, person)
    version = fresh(person).session_version
    response = change_password(client, "not-my-password")
    html = html_of(response)
    assert response.status_code == 200
    assert page_title(html).startswith("Error:")
    assert field_error(html, "current_password") == "Your current password is not correct"
    assert error_summary(html) == {"current_password": "Your current password is not correct"}
    stored = fresh(person)
    assert verify_password(stored.password_hash, PASSWORD)
    assert stored.session_version == version


@pytest.mark.parametrize(
    ("new", "confirmation", "field", "message"),
    [
        ("tiny", None, "password", "Password must be 12 characters or more"),
        ("qwerty123456", None, "password", "Password is too common; try three random words"),
        (NEW_PASSWORD, "something-else-entirely", "confirm_password", "The passwords do not match"),
    ],
)
def test_change_password_refuses_weak_new_passwords(client, new, confirmation, field, message):
    person = make_person("sam@example.org")
    sign_in(client, person)
    html = html_of(change_password(client, PASSWORD, new, confirmation))
    assert field_error(html, field) == message
    assert verify_password(fresh(person).password_hash, PASSWORD)


def test_change_password_keeps_this_session_and_ends_the_others(client, new_client, app):
    person = make_person("sam@example.org")
    phone = new_client()
    sign_in(phone, person)
    sign_in(client, person)
    response = change_password(client, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Other devices have been signed out." in html_of(client.get("/"))
    assert is_signed_in(client)
    assert not is_signed_in(phone)
    assert verify_password(fresh(person).password_hash, NEW_PASSWORD)

    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.password_set"))
    assert (event.subject_type, event.subject_id, event.actor_id) == ("person", person.id, person.id)
    assert event.summary.endswith("changed their password")


def test_hash_is_not_shared_between_people_with_the_same_password():
    first = make_person("one@example.org")
    second = make_person("two@example.org")
    assert first.password_hash != second.password_hash
    assert hash_password(PASSWORD) != first.password_hash
