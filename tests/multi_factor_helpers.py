"""The second step of signing in, answered as a person with their authenticator app would: tests that sign in
admins and coordinators (who must use one) go through it with ``tests.conftest.sign_in`` and
``tests.browser.conftest.sign_in``.

A person without an app sets one up from the QR page's key; one with an app gives the code of a time step not
used yet. A real phone makes one code per 30 seconds; a test may sign the same person in from several browsers
within one, so the codes of the step before and after (the drift Pathways allows) are used too, and past those
the person's last used step is forgotten, which only a test can do."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

from sqlalchemy import select, update

from app.extensions import db
from app.models import Person, SecondFactor
from app.services import multi_factor

CODE_PAGE = "/sign-in/code"
SET_UP_PAGE = "/account/authenticator/set-up"
SECRET_ON_PAGE = re.compile(r"<code>([A-Z2-7 ]{16,})</code>")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def person_by_email(email: str) -> Person:
    db.session.expire_all()  # what the requests, each in a session of its own, have committed
    person = db.session.scalar(select(Person).where(Person.email == email.strip().lower()))
    assert person is not None, f"nobody has the email address {email}"
    return person


def secret_of(person: Person) -> str:
    factor = multi_factor.second_factor_of(person)
    assert factor is not None, f"{person.email} has not set up an authenticator app"
    return multi_factor.unseal(factor.sealed_secret, person.id)


def code_now(secret: str) -> str:
    return multi_factor.code_for(secret, multi_factor.time_step())


def unused_code(person_or_email) -> str:
    """A code ``person``'s app could show now that Pathways has not accepted yet."""
    person = person_by_email(person_or_email if isinstance(person_or_email, str) else person_or_email.email)
    factor = multi_factor.second_factor_of(person)
    assert factor is not None, f"{person.email} has not set up an authenticator app"
    secret = multi_factor.unseal(factor.sealed_secret, person.id)
    now = multi_factor.time_step()
    for step in range(now - multi_factor.DRIFT_STEPS, now + multi_factor.DRIFT_STEPS + 1):
        if factor.last_used_step is None or step > factor.last_used_step:
            db.session.rollback()
            return multi_factor.code_for(secret, step)
    db.session.execute(update(SecondFactor).where(SecondFactor.id == factor.id).values(last_used_step=None))
    db.session.commit()
    return multi_factor.code_for(secret, now)


def secret_shown(html: str) -> str:
    match = SECRET_ON_PAGE.search(html)
    assert match, "no setup key on the page"
    return unescape(match.group(1)).replace(" ", "")


def _post(client, path: str, data: dict, page_html: str):
    token = CSRF.search(page_html)
    assert token, f"no form on {path}"
    return client.post(path, data={**data, "csrf_token": token.group(1)})


def pass_second_factor(client, response, email: str):
    """After the password step's ``response``: give the code, or set an app up, as ``email``'s owner would.
    The response of the last step (a redirect to where they were going, or the recovery codes page)."""
    location = urlsplit(response.headers.get("Location", "")) if response.status_code == 302 else None
    if location is None or location.path not in (CODE_PAGE, SET_UP_PAGE):
        return response
    path = location.path + (f"?{location.query}" if location.query else "")
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    html = page.get_data(as_text=True)
    if location.path == CODE_PAGE:
        answer = _post(client, path, {"code": unused_code(email)}, html)
        assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    else:
        answer = _post(client, path, {"code": code_now(secret_shown(html))}, html)
        assert answer.status_code == 200 and "Save your recovery codes" in answer.get_data(as_text=True), (
            answer.get_data(as_text=True)[:2000])
    return answer


def pass_second_factor_in_browser(page, person) -> None:
    """The same in a real browser, once the Sign in button has been pressed."""
    from tests.browser.conftest import release_database

    page.wait_for_url(lambda url: urlsplit(url).path != "/sign-in")
    path = urlsplit(page.url).path
    if path == CODE_PAGE:
        code = unused_code(person)
        release_database()
        page.get_by_label("Code", exact=True).fill(code)
        page.get_by_role("button", name="Continue").click()
    elif path == SET_UP_PAGE:
        secret = page.locator("main code").inner_text().replace(" ", "")
        page.get_by_label("Code from your authenticator app").fill(code_now(secret))
        page.get_by_role("button", name="Finish setting up").click()
        page.get_by_role("button", name="I have saved my recovery codes").click()
