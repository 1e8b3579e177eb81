"""Signing in with an authenticator app (TOTP) and recovery codes: required for admins and coordinators, optional
for others; codes work once, guessing waits, the password step alone reaches nothing, a reset link does not skip
the code, and changing roles asks for a recent code."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pyotp
import pytest
import time_machine
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Person, RecoveryCode, Role, SecondFactor
from app.models.types import utcnow
from app.services import accounts, multi_factor
from tests.conftest import PASSWORD, csrf_token, make_person, post_form, sign_in
from tests.multi_factor_helpers import secret_shown, unused_code
from tests.pages import field_error, html_of, page_title, text_of
from tests.test_migrations import migrated, own_database, postgresql_database  # noqa: F401, F811 - fixtures

HACKNEY = "E09000012"
CODE_PAGE = "/sign-in/code"
SET_UP_PAGE = "/account/authenticator/set-up"
RECOVERY_PAGE = "/sign-in/recovery-code"
RECOVERY_CODE = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")


# People and steps ---------------------------------------------------------------------------------------


def coordinator(email: str = "cora@example.org") -> Person:
    return make_person(email, name="Cora Coordinator", roles=(Role.COORDINATOR,), scope=(HACKNEY,))


def password_step(client, email: str, password: str = PASSWORD):
    return post_form(client, "/sign-in", {"email": email, "password": password})


def set_up_in_pages(client) -> tuple[str, list[str]]:
    """On the setup page: read the key, add it to an 'app' (pyotp), give its code. The key and recovery codes."""
    page = client.get(SET_UP_PAGE)
    assert page.status_code == 200
    secret = secret_shown(html_of(page))
    done = post_form(client, SET_UP_PAGE, {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, html_of(done)[:2000]
    assert page_title(done) == "Save your recovery codes – Pathways"
    return secret, RECOVERY_CODE.findall(html_of(done))


def with_app(person: Person) -> str:
    """``person`` has set up an app a minute ago; its secret."""
    secret = multi_factor.new_secret()
    with time_machine.travel(utcnow() - timedelta(minutes=1), tick=False):
        multi_factor.set_up(person, secret, pyotp.TOTP(secret).now())
    db.session.commit()
    return secret


def give_code(client, code: str, path: str = CODE_PAGE):
    return post_form(client, path, {"code": code})


def is_signed_in(client) -> bool:
    response = client.get("/account/password")
    return response.status_code == 200


def sign_out(client):
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/")})


def factor_of(person: Person) -> SecondFactor | None:
    db.session.expire_all()
    return db.session.scalar(select(SecondFactor).where(SecondFactor.person_id == person.id))


def events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def later(minutes: float):
    """The clock moved on by ``minutes`` (and ticking), for the app and the test alike."""
    return time_machine.travel(utcnow() + timedelta(minutes=minutes), tick=True)


# Setting up at the first sign-in, and signing in with a code ------------------------------------------------


def test_a_coordinator_sets_up_an_app_at_first_sign_in_then_signs_in_with_its_codes(client):
    person = coordinator()

    response = password_step(client, person.email)
    assert response.status_code == 302 and response.headers["Location"] == SET_UP_PAGE
    page = client.get(SET_UP_PAGE)
    html = html_of(page)
    assert page_title(page) == "Set up an authenticator app – Pathways"
    # The QR code is an image in a data: address (the content security policy allows data: images) with its key as
    # text for typing; the secret is stored encrypted, so it is not in the database in the clear.
    assert re.search(r'<img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+" width="200" height="200" alt="[^"]+"',
                     html)
    assert "img-src 'self' data:" in page.headers["Content-Security-Policy"]
    secret = secret_shown(html)
    assert len(secret) == 32
    # The code field is made for one-time codes.
    field = re.search(r'<input[^>]*name="code"[^>]*>', html).group(0)
    assert 'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field
    assert 'spellcheck="false"' in field
    # Reloading the page keeps the same key, so a scan already made still works.
    assert secret_shown(html_of(client.get(SET_UP_PAGE))) == secret

    done = post_form(client, SET_UP_PAGE, {"code": pyotp.TOTP(secret).now()})
    codes = RECOVERY_CODE.findall(html_of(done))
    assert len(codes) == len(set(codes)) == 10
    assert "Pathways shows these codes only this once." in text_of(done)
    assert is_signed_in(client)
    factor = factor_of(person)
    assert secret not in factor.sealed_secret and factor.sealed_secret.startswith("v1.")
    assert all(code.replace("-", "") not in row.code_hash for code, row in zip(codes, factor.recovery_codes,
                                                                               strict=True))
    [event] = events("second_factor.set_up")
    assert (event.actor_id, event.subject_id) == (person.id, person.id)
    # The secret is never shown again.
    account = html_of(client.get("/account/authenticator"))
    assert secret not in account and multi_factor.grouped(secret) not in account and "<code>" not in account

    sign_out(client)
    with later(2):
        response = password_step(client, person.email)
        assert response.headers["Location"] == CODE_PAGE
        assert not is_signed_in(client)
        assert give_code(client, pyotp.TOTP(secret).now()).headers["Location"] == "/"
        assert is_signed_in(client)


def test_the_code_of_the_step_before_or_after_works_for_a_phone_a_little_out_of_time(client, new_client):
    person = coordinator()
    secret = with_app(person)
    totp = pyotp.TOTP(secret)
    # The clock stands still here, so a step does not end between making a code and checking it.
    with time_machine.travel(utcnow(), tick=False):
        for drift in (-30, 30):
            browser = new_client()
            password_step(browser, person.email)
            code = totp.at(utcnow() + timedelta(seconds=drift))
            assert give_code(browser, code).status_code == 302, drift
        browser = new_client()
        password_step(browser, person.email)
        response = give_code(browser, totp.at(utcnow() + timedelta(seconds=90)))
        assert response.status_code == 200 and field_error(response, "code") == multi_factor.CODE_WRONG


def test_a_wrong_or_malformed_code_is_refused_beside_the_field(client):
    person = coordinator()
    secret = with_app(person)
    password_step(client, person.email)
    right = pyotp.TOTP(secret).now()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for code, message in [(wrong, multi_factor.CODE_WRONG), ("", multi_factor.CODE_NEEDED),
                          ("12345", multi_factor.CODE_FORMAT), ("12345a", multi_factor.CODE_FORMAT),
                          ("١٢٣٤٥٦", multi_factor.CODE_FORMAT)]:
        response = give_code(client, code)
        assert response.status_code == 200, code
        assert page_title(response) == "Error: Enter the code from your authenticator app – Pathways", code
        assert field_error(response, "code") == message, code
        assert not is_signed_in(client)
    # Only the well-formed wrong code counted as a guess.
    assert factor_of(person).wrong_codes == 1
    # Spaces, as some apps show the code, are fine.
    assert give_code(client, f"{right[:3]} {right[3:]}").status_code == 302
    assert is_signed_in(client)
    assert factor_of(person).wrong_codes == 0


def test_a_code_is_never_accepted_twice(client, new_client):
    person = coordinator()
    secret = with_app(person)
    with later(2):
        code = pyotp.TOTP(secret).now()
        password_step(client, person.email)
        assert give_code(client, code).status_code == 302

        # The same code again, from another browser, within its 30 seconds.
        other = new_client()
        password_step(other, person.email)
        response = give_code(other, code)
        assert response.status_code == 200
        assert field_error(response, "code") == multi_factor.CODE_USED
        assert not is_signed_in(other)
        # Nor the code before it, which drift would otherwise allow.
        previous = pyotp.TOTP(secret).at(utcnow() - timedelta(seconds=30))
        assert field_error(give_code(other, previous), "code") == multi_factor.CODE_USED
    with later(2.5):
        assert give_code(other, pyotp.TOTP(secret).now()).status_code == 302


def test_the_same_code_racing_from_many_browsers_signs_in_only_one(app):
    """Browsers that all passed the password send one code at the same moment: one signs in."""
    person = coordinator()
    secret = with_app(person)
    # As many as the wrong codes allowed, since each refused replay counts as one.
    browsers = [app.test_client() for _ in range(multi_factor.MAX_WRONG_CODES)]
    for browser in browsers:
        password_step(browser, person.email)
    tokens = [csrf_token(browser, CODE_PAGE) for browser in browsers]
    db.session.rollback()
    code = pyotp.TOTP(secret).now()
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def send(browser, token):
        start.wait()
        statuses.append(browser.post(CODE_PAGE, data={"code": code, "csrf_token": token}).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in zip(browsers, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200] * (len(browsers) - 1) + [302]
    assert sum(is_signed_in(browser) for browser in browsers) == 1


# Recovery codes ------------------------------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(client, new_client):
    person = coordinator()
    password_step(client, person.email)
    _secret, codes = set_up_in_pages(client)
    sign_out(client)

    password_step(client, person.email)
    page = client.get(CODE_PAGE)
    assert f'href="{RECOVERY_PAGE}"' in html_of(page)
    response = post_form(client, RECOVERY_PAGE, {"recovery_code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "You used a recovery code; you have 9 left." in text_of(client.get("/"))
    [event] = events("second_factor.recovery_code_used")
    assert event.subject_id == person.id and event.details == {"left": 9}
    sign_out(client)

    again = new_client()
    password_step(again, person.email)
    response = post_form(again, RECOVERY_PAGE, {"recovery_code": codes[3]})
    assert response.status_code == 200
    assert field_error(response, "recovery_code") == multi_factor.RECOVERY_WRONG
    assert not is_signed_in(again)
    assert field_error(post_form(again, RECOVERY_PAGE, {"recovery_code": ""}), "recovery_code") == (
        multi_factor.RECOVERY_NEEDED)
    assert post_form(again, RECOVERY_PAGE, {"recovery_code": codes[4]}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode).where(RecoveryCode.used_at.is_(None))) == 8


def test_new_recovery_codes_replace_the_old_ones(client):
    person = coordinator()
    password_step(client, person.email)
    _secret, old_codes = set_up_in_pages(client)
    response = post_form(client, "/account/authenticator/recovery-codes", token_from="/account/authenticator")
    new_codes = RECOVERY_CODE.findall(html_of(response))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    assert len(events("second_factor.recovery_codes_renewed")) == 1
    sign_out(client)
    password_step(client, person.email)
    assert field_error(post_form(client, RECOVERY_PAGE, {"recovery_code": old_codes[0]}), "recovery_code") == (
        multi_factor.RECOVERY_WRONG)
    assert post_form(client, RECOVERY_PAGE, {"recovery_code": new_codes[0]}).status_code == 302


# Nothing between the password and the code ---------------------------------------------------------------


SIGNED_IN_PAGES = ["/account/password", "/account/reminders", "/account/authenticator", "/people", "/people/new",
                   "/cohort-review/apprentices", "/intakes", "/runs"]


@pytest.mark.parametrize("has_app", [False, True], ids=["setting up", "with an app"])
def test_a_coordinator_reaches_no_page_between_the_password_and_the_code(client, has_app):
    person = coordinator()
    if has_app:
        with_app(person)
    step = password_step(client, person.email).headers["Location"]
    assert step == (CODE_PAGE if has_app else SET_UP_PAGE)
    for path in SIGNED_IN_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/sign-in?next="), path
    home = client.get("/")
    assert "Welcome" not in text_of(home) and "Signed in as" not in text_of(home)
    # Nor can they change anything.
    response = client.post("/account/password", data={"csrf_token": csrf_token(client, step),
                                                      "current_password": PASSWORD, "password": "x" * 20,
                                                      "confirm_password": "x" * 20})
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
    # And someone with an app cannot replace it with the password alone.
    if has_app:
        assert client.get(SET_UP_PAGE).headers["Location"] == CODE_PAGE


def test_the_password_step_is_forgotten_after_five_minutes(client):
    person = coordinator()
    secret = with_app(person)
    password_step(client, person.email)
    token = csrf_token(client, CODE_PAGE)
    with later(multi_factor.PENDING_MINUTES + 1):
        response = client.post(CODE_PAGE, data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
        assert "Your sign-in timed out. Sign in again." in text_of(client.get("/sign-in"))
        assert not is_signed_in(client)


def test_a_signed_in_coordinator_without_a_code_in_their_session_sets_up_an_app_first(client, new_client):
    """Someone made a coordinator while signed in goes to set up an app before any other page."""
    person = make_person("lee@example.org", roles=(Role.LEARNER,))
    sign_in(client, person)
    person = db.session.get(Person, person.id)
    accounts.change_roles(None, person, [Role.COORDINATOR], [person.organisation])
    db.session.commit()
    response = client.get("/people")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{SET_UP_PAGE}?next=/people"
    set_up_in_pages(client)
    assert client.get("/people").status_code == 200


# The password reset path -------------------------------------------------------------------------------------


def reset_link_for(client, person: Person) -> str:
    from tests.test_auth import emails_to, link_in

    post_form(client, "/forgot-password", {"email": person.email})
    return link_in(emails_to(person.email)[-1])


NEW_PASSWORD = "violet-lantern-orbit-meadow"


@pytest.mark.parametrize("has_app", [False, True], ids=["not set up yet", "with an app"])
def test_a_reset_link_does_not_skip_the_second_factor(client, has_app):
    person = coordinator()
    if has_app:
        secret = with_app(person)
    link = reset_link_for(client, person)
    response = post_form(client, link, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == (CODE_PAGE if has_app else SET_UP_PAGE)
    assert not is_signed_in(client)
    for path in SIGNED_IN_PAGES[:3]:
        assert client.get(path).headers["Location"].startswith("/sign-in"), path
    if has_app:
        assert "Your password is set. Now finish signing in." in text_of(client.get(CODE_PAGE))
        assert give_code(client, pyotp.TOTP(secret).now()).status_code == 302
    else:
        set_up_in_pages(client)
    assert is_signed_in(client)


def test_a_learner_without_an_app_is_signed_in_by_the_password_alone(client):
    person = make_person("lee@example.org")
    assert password_step(client, person.email).headers["Location"] == "/"
    assert is_signed_in(client)
    assert factor_of(person) is None


# Throttling ------------------------------------------------------------------------------------------------


def test_five_wrong_codes_make_the_person_wait_whoever_asks(client, new_client, app):
    person = coordinator()
    secret = with_app(person)
    password_step(client, person.email)
    right = pyotp.TOTP(secret).now()
    for number in range(multi_factor.MAX_WRONG_CODES):
        wrong = f"{(int(right) + 1 + number) % 1_000_000:06d}"
        assert field_error(give_code(client, wrong), "code") == multi_factor.CODE_WRONG

    minutes = app.config["SIGN_IN_WINDOW_MINUTES"]
    refused = give_code(client, right)
    assert refused.status_code == 429
    assert field_error(refused, "code") == f"Too many wrong codes. Wait {minutes} minutes and try again"
    assert not is_signed_in(client)
    # The count is kept by Pathways, not the browser: a fresh sign-in is refused too, and so are recovery codes.
    other = new_client()
    password_step(other, person.email)
    assert give_code(other, right).status_code == 429
    assert post_form(other, RECOVERY_PAGE, {"recovery_code": "abcde-fghjk"}).status_code == 429
    assert len(events("second_factor.throttled")) == 1

    with later(minutes + 1):
        password_step(other, person.email)
        assert give_code(other, pyotp.TOTP(secret).now()).status_code == 302
    assert factor_of(person).wrong_codes == 0


def test_parallel_guesses_are_held_to_the_limit(app):
    person = coordinator()
    secret = with_app(person)
    browsers = [app.test_client() for _ in range(12)]
    for browser in browsers:
        password_step(browser, person.email)
    tokens = [csrf_token(browser, CODE_PAGE) for browser in browsers]
    db.session.rollback()
    right = pyotp.TOTP(secret).now()
    guesses = [f"{(int(right) + 1 + n) % 1_000_000:06d}" for n in range(len(browsers))]
    start = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def guess(browser, token, code):
        start.wait()
        statuses.append(browser.post(CODE_PAGE, data={"code": code, "csrf_token": token}).status_code)

    threads = [threading.Thread(target=guess, args=args) for args in zip(browsers, tokens, guesses, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses.count(200) == multi_factor.MAX_WRONG_CODES
    assert statuses.count(429) == len(browsers) - multi_factor.MAX_WRONG_CODES
    assert factor_of(person).wrong_codes == multi_factor.MAX_WRONG_CODES


# Step-up for roles --------------------------------------------------------------------------------------------


def test_changing_roles_asks_for_a_fresh_code_after_fifteen_minutes(client):
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    sam = make_person("sam@example.org", name="Sam Taylor")
    sign_in(client, admin)
    roles_page = f"/people/{sam.id}/roles"
    assert client.get(roles_page).status_code == 200

    with later(multi_factor.STEP_UP_MINUTES + 1):
        response = client.get(roles_page)
        assert response.status_code == 302
        assert response.headers["Location"] == f"{CODE_PAGE}?next={roles_page}"
        # A change sent meanwhile is not made.
        token = csrf_token(client, "/")
        refused = client.post(roles_page, data={"csrf_token": token, "roles": ["supervisor"]})
        assert refused.headers["Location"] == f"{CODE_PAGE}?next={roles_page}"
        assert db.session.get(Person, sam.id).roles == {Role.LEARNER}
        page = client.get(refused.headers["Location"])
        assert "Pathways asks again for changes like this" in text_of(page)
        assert field_error(give_code(client, "000000", refused.headers["Location"]), "code")

        answered = give_code(client, unused_code(admin), refused.headers["Location"])
        assert answered.headers["Location"] == roles_page
        assert post_form(client, roles_page, {"roles": ["supervisor"]}).status_code == 302
        db.session.expire_all()
        assert db.session.get(Person, sam.id).roles == {Role.SUPERVISOR}


# Optional for others ----------------------------------------------------------------------------------------


def test_a_learner_may_choose_an_app_and_stop_using_it(client):
    person = make_person("lee@example.org", name="Lee Learner")
    sign_in(client, person)
    home = html_of(client.get("/"))
    assert 'href="/account/authenticator">Sign in with an authenticator app</a>' in home
    page = client.get("/account/authenticator")
    assert "Set up sign-in with an authenticator app" in text_of(page)
    secret, _codes = set_up_in_pages(client)
    assert "Stop using an authenticator app" in text_of(client.get("/account/authenticator"))
    sign_out(client)

    with later(1):
        assert password_step(client, person.email).headers["Location"] == CODE_PAGE
        give_code(client, pyotp.TOTP(secret).now())
        response = post_form(client, "/account/authenticator/turn-off", token_from="/account/authenticator")
        assert response.headers["Location"] == "/account/authenticator"
        assert factor_of(person) is None
        assert len(events("second_factor.turned_off")) == 1
        sign_out(client)
        assert password_step(client, person.email).headers["Location"] == "/"


def test_an_admin_cannot_stop_using_their_app(client):
    admin = make_person("admin@example.org", roles=(Role.ADMIN,), organisation_code="LC")
    sign_in(client, admin)
    assert "Stop using an authenticator app" not in text_of(client.get("/account/authenticator"))
    post_form(client, "/account/authenticator/turn-off", token_from="/account/authenticator")
    assert factor_of(admin) is not None


def test_a_new_app_replaces_the_old_one_after_a_recent_code(client):
    person = coordinator()
    password_step(client, person.email)
    old_secret, _codes = set_up_in_pages(client)
    with later(multi_factor.STEP_UP_MINUTES + 1):
        response = client.get(SET_UP_PAGE)
        assert response.headers["Location"].startswith(CODE_PAGE)
        give_code(client, pyotp.TOTP(old_secret).now(), response.headers["Location"])
        new_secret, _codes = set_up_in_pages(client)
    assert new_secret != old_secret
    assert multi_factor.unseal(factor_of(person).sealed_secret, person.id) == new_secret
    assert len(events("second_factor.replaced")) == 1


# An admin's reset --------------------------------------------------------------------------------------------


def test_an_admin_resets_someones_app_and_they_set_up_a_new_one(client, new_client):
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    person = coordinator()
    with_app(person)
    sign_in(client, admin)
    page = client.get(f"/people/{person.id}")
    assert "Authenticator app Set up on" in text_of(page)
    reset_page = f"/people/{person.id}/authenticator/reset"
    assert f'href="{reset_page}"' in html_of(page)
    assert client.get(reset_page).status_code == 200

    response = post_form(client, reset_page, {"reason": "Lost phone; checked by a video call"})
    assert response.headers["Location"] == f"/people/{person.id}"
    assert factor_of(person) is None
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 10  # the admin's own, not theirs
    [event] = events("second_factor.reset")
    assert (event.actor_id, event.subject_id) == (admin.id, person.id)
    assert event.details == {"reason": "Lost phone; checked by a video call"}
    assert "Cora Coordinator's sign-in with an authenticator app has been reset." in text_of(
        client.get(f"/people/{person.id}"))

    theirs = new_client()
    assert password_step(theirs, person.email).headers["Location"] == SET_UP_PAGE


def test_only_admins_reset_and_nobody_resets_their_own(client, new_client):
    admin = make_person("admin@example.org", roles=(Role.ADMIN,), organisation_code="LC")
    person = make_person("sam@example.org")
    with_app(person)
    boss = coordinator()
    sign_in(client, boss)
    assert client.get(f"/people/{person.id}/authenticator/reset").status_code == 403
    assert "Reset" not in text_of(client.get(f"/people/{person.id}"))

    own = new_client()
    sign_in(own, admin)
    assert own.get(f"/people/{admin.id}/authenticator/reset").headers["Location"] == f"/people/{admin.id}"
    assert factor_of(admin) is not None


def test_the_command_line_resets_a_second_factor(runner):
    person = coordinator()
    with_app(person)
    result = runner.invoke(args=["users", "reset-second-factor", person.email, "--reason", "Lost phone"])
    assert result.exit_code == 0, result.output
    assert factor_of(person) is None
    [event] = events("second_factor.reset")
    assert event.actor_id is None and event.details == {"reason": "Lost phone"}
    again = runner.invoke(args=["users", "reset-second-factor", person.email])
    assert again.exit_code == 1 and "Cora Coordinator has not set up an authenticator app" in again.output
    nobody = runner.invoke(args=["users", "reset-second-factor", "nobody@example.org"])
    assert nobody.exit_code == 1 and "no person with the email address nobody@example.org" in nobody.output


# The secret at rest -------------------------------------------------------------------------------------------


def test_the_secret_opens_only_with_pathways_key_and_only_for_its_person(app, monkeypatch):
    person = coordinator()
    other = make_person("other@example.org")
    secret = with_app(person)
    sealed = factor_of(person).sealed_secret
    assert multi_factor.unseal(sealed, person.id) == secret
    with pytest.raises(multi_factor.SecretUnreadable):
        multi_factor.unseal(sealed, other.id)  # copied onto another person's row
    old_key = app.config["SECRET_KEY"]
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-key-" + "x" * 40)
    with pytest.raises(multi_factor.SecretUnreadable):
        multi_factor.unseal(sealed, person.id)
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [old_key])
    assert multi_factor.unseal(sealed, person.id) == secret


# Downgrades keep data ---------------------------------------------------------------------------------------


def test_downgrading_past_multi_factor_archives_the_apps_and_codes_and_upgrading_brings_them_back(migrated):  # noqa: F811
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    secret = with_app(coordinator())

    def rows() -> dict[str, list]:
        with db.engine.connect() as connection:
            return {table: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {table}"))))  # noqa: S608
                    for table in ("second_factor", "recovery_code")}

    before = rows()
    assert len(before["second_factor"]) == 1 and len(before["recovery_code"]) == 10
    db.session.remove()
    downgrade(revision="0008_user_sessions")
    tables = set(inspect(db.engine).get_table_names())
    assert {"archived_0009_second_factor", "archived_0009_recovery_code"} <= tables
    assert not {"second_factor", "recovery_code"} & tables
    upgrade()
    assert rows() == before
    person = db.session.scalar(select(Person).where(Person.email == "cora@example.org"))
    assert multi_factor.unseal(factor_of(person).sealed_secret, person.id) == secret
