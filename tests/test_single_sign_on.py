"""Signing in with an organisation's identity provider: a real OpenID Connect provider on loopback
(app/services/demo_identity_provider.py), the authorisation code flow with PKCE, every check on the id token and
the answer, linking accounts, the second factor, signing out there too, and setting a provider up (admin pages and
`flask sso`)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, IdentityProvider, Person, Role, SingleSignOnLink
from app.services import accounts, single_sign_on
from app.services.demo_identity_provider import DemoAccount, DemoIdentityProvider
from tests.conftest import PASSWORD, make_person, post_form, sign_in
from tests.multi_factor_helpers import secret_shown
from tests.pages import field_error, html_of, page_title, text_of

SOUTHWARK = "E09000028"
DOMAIN = "southwark.example"
SECRET = "client-secret-for-tests"  # noqa: S105
ACCOUNTS = [
    DemoAccount(f"kemi@{DOMAIN}", "Kemi Adebayo", subject="sub-kemi"),
    DemoAccount(f"dan@{DOMAIN}", "Daniel Osei", subject="sub-dan"),
    DemoAccount(f"riley@{DOMAIN}", "Riley Unverified", email_verified=False, subject="sub-riley"),
    DemoAccount("kemi@elsewhere.example", "Kemi Elsewhere", subject="sub-elsewhere"),
]


@pytest.fixture(scope="module")
def idp():
    provider = DemoIdentityProvider(ACCOUNTS, client_id="pathways-tests", client_secret=SECRET).start()
    yield provider
    provider.stop()


@pytest.fixture
def provider(idp):
    idp.claim_changes, idp.sign_with_stranger_key = {}, False
    return idp


def organisation(code: str = SOUTHWARK):
    return accounts.organisation_by_code(code)


def set_up(provider, *, creates_learners: bool = False, tenant_id: str | None = None,
           issuer: str | None = None) -> IdentityProvider:
    configured = single_sign_on.save_provider(None, organisation(), issuer=issuer or provider.issuer,
                                              client_id="pathways-tests", client_secret=SECRET,
                                              allowed_domains=DOMAIN, tenant_id=tenant_id,
                                              creates_learners=creates_learners)
    db.session.commit()
    return configured


def southwark_person(email: str = f"kemi@{DOMAIN}", roles=(Role.LEARNER,)) -> Person:
    person = accounts.create_person(None, email=email, name="Kemi Adebayo", organisation=organisation(),
                                    roles=roles, scope=[organisation()] if Role.COORDINATOR in roles else (),
                                    invite=False)
    db.session.commit()
    return person


def set_off(client, email: str, next_url: str | None = None):
    """Type the email on the sign-in page: the browser is sent to the provider."""
    path = "/sign-in" + (f"?next={next_url}" if next_url else "")
    response = post_form(client, path, {"email": email, "password": ""}, token_from="/sign-in")
    assert response.status_code == 302, html_of(response)[:2000]
    return response.headers["Location"]


def come_back(client, callback: str):
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_there(client, provider, email: str, *, as_account: str | None = None, multi_factor: bool = False,
                  next_url: str | None = None):
    location = set_off(client, email, next_url)
    return come_back(client, provider.approve(location, as_account or email, multi_factor=multi_factor))


def signed_in_as(client) -> str | None:
    page = client.get("/account/sessions")
    return None if page.status_code != 200 else "signed in"


def refusals() -> list[str]:
    db.session.expire_all()
    return [event.details["reason"] for event in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "person.single_sign_on_refused").order_by(AuditEvent.id))]


# The happy path ---------------------------------------------------------------------------------------------------


def test_a_person_of_an_organisation_with_a_provider_signs_in_there_with_pkce_and_lands_where_they_were_going(
        client, provider):
    set_up(provider)
    person = southwark_person()
    location = set_off(client, person.email.upper(), next_url="/account/sessions")
    query = parse_qs(urlsplit(location).query)
    assert location.startswith(provider.issuer + "/authorize?")
    assert query["client_id"] == ["pathways-tests"] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0] and query["login_hint"] == [person.email]
    assert "openid" in query["scope"][0].split()

    answer = come_back(client, provider.approve(location, person.email))
    assert answer.status_code == 302 and answer.headers["Location"] == "/account/sessions"
    assert signed_in_as(client)
    db.session.expire_all()
    link = db.session.scalar(select(SingleSignOnLink))
    assert (link.person_id, link.subject) == (person.id, "sub-kemi")
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert {"person.single_sign_on_linked", "person.signed_in_with_single_sign_on"} <= set(actions)


def test_the_email_domain_sends_someone_without_an_account_and_a_learner_is_made_if_the_organisation_allows(
        client, provider):
    set_up(provider, creates_learners=True)
    assert sign_in_there(client, provider, f"kemi@{DOMAIN}").status_code == 302
    assert signed_in_as(client)
    made = db.session.scalar(select(Person).where(Person.email == f"kemi@{DOMAIN}"))
    assert made.organisation.code == SOUTHWARK and made.roles == {Role.LEARNER} and not made.has_password


def test_without_that_permission_nobody_new_gets_an_account(client, provider):
    set_up(provider)
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}")
    assert answer.status_code == 403
    assert page_title(answer) == "You do not have a Pathways account yet – Pathways"
    assert db.session.scalar(select(func.count()).select_from(Person)) == 0
    assert refusals() == ["no_account"]


def test_others_keep_their_passwords_and_must_give_one(client, provider):
    set_up(provider)
    person = make_person("hackney@example.org")
    missing = post_form(client, "/sign-in", {"email": person.email, "password": ""})
    assert missing.status_code == 200 and field_error(missing, "password") == "Enter your password"
    assert sign_in(client, person).status_code == 302
    assert signed_in_as(client)


def test_a_person_of_the_organisation_cannot_use_a_password_instead(client, provider):
    set_up(provider)
    person = southwark_person()
    accounts.set_password(person, PASSWORD)
    db.session.commit()
    answer = post_form(client, "/sign-in", {"email": person.email, "password": PASSWORD})
    assert answer.status_code == 302 and answer.headers["Location"].startswith(provider.issuer)
    assert not signed_in_as(client)


# Linking by subject -----------------------------------------------------------------------------------------------


def test_the_second_sign_in_finds_the_person_by_subject_even_when_the_email_changed(client, new_client, provider):
    set_up(provider)
    person = southwark_person()
    assert sign_in_there(client, provider, person.email).status_code == 302
    # At the provider, the account's address changes (and is no longer verified): the subject still finds them.
    provider.claim_changes = {"email": f"kemi.adebayo@{DOMAIN}", "email_verified": False}
    again = new_client()
    assert sign_in_there(again, provider, person.email).status_code == 302
    assert signed_in_as(again)
    assert db.session.scalar(select(func.count()).select_from(SingleSignOnLink)) == 1


def test_a_person_already_linked_is_not_linked_again_to_another_subject(client, new_client, provider):
    set_up(provider)
    person = southwark_person()
    assert sign_in_there(client, provider, person.email).status_code == 302
    provider.claim_changes = {"sub": "someone-else"}
    answer = sign_in_there(new_client(), provider, person.email)
    assert answer.status_code == 403 and refusals() == ["email_not_allowed"]


# Refusals ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "reason", "status", "heading"), [
    ({"aud": "another-client"}, "wrong_issuer", 403, "You signed in to a different organisation"),
    ({"iss": "https://impostor.example"}, "wrong_issuer", 403, "You signed in to a different organisation"),
    ({"exp": 1, "iat": 1}, "expired_token", 400, "Your sign-in has expired"),
    ({"nonce": "not-the-nonce"}, "bad_signature", 400, "Your sign-in could not be checked"),
    ({"email_verified": False}, "unverified_email", 403, "Your email address is not verified"),
    ({"email_verified": None}, "unverified_email", 403, "Your email address is not verified"),
])
def test_an_id_token_that_fails_a_check_is_refused_with_a_clear_page_and_audited(client, provider, changes, reason,
                                                                                 status, heading):
    set_up(provider)
    southwark_person()
    provider.claim_changes = changes
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}")
    assert answer.status_code == status
    assert page_title(answer) == f"{heading} – Pathways"
    assert not signed_in_as(client)
    assert refusals() == [reason]
    assert db.session.scalar(select(func.count()).select_from(SingleSignOnLink)) == 0


def test_a_token_expired_within_the_allowed_clock_skew_is_accepted(client, provider):
    set_up(provider)
    southwark_person()
    now = int(time.time())
    provider.claim_changes = {"exp": now - 30, "iat": now - 330}
    assert sign_in_there(client, provider, f"kemi@{DOMAIN}").status_code == 302
    assert signed_in_as(client)


def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(client, provider):
    set_up(provider)
    southwark_person()
    provider.sign_with_stranger_key = True
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}")
    assert answer.status_code == 400 and page_title(answer) == "Your sign-in could not be checked – Pathways"
    assert refusals() == ["bad_signature"]


def test_an_unverified_email_is_never_trusted(client, provider):
    set_up(provider, creates_learners=True)
    answer = sign_in_there(client, provider, f"riley@{DOMAIN}")
    assert answer.status_code == 403 and "has not confirmed your email address" in text_of(answer)
    assert db.session.scalar(select(Person).where(Person.email == f"riley@{DOMAIN}")) is None
    assert refusals() == ["unverified_email"]


def test_an_email_outside_the_organisations_domains_is_refused(client, provider):
    set_up(provider, creates_learners=True)
    southwark_person()
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}", as_account="kemi@elsewhere.example")
    assert answer.status_code == 403
    assert page_title(answer) == "Your email address cannot be used here – Pathways"
    assert db.session.scalar(select(Person).where(Person.email == "kemi@elsewhere.example")) is None
    assert refusals() == ["email_not_allowed"]


def test_a_person_of_another_organisation_is_not_linked_by_email(client, provider):
    set_up(provider)
    make_person(f"dan@{DOMAIN}", organisation_code="E09000012")
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}", as_account=f"dan@{DOMAIN}")
    assert answer.status_code == 403 and refusals() == ["email_not_allowed"]


def test_a_deactivated_person_is_refused_before_and_after_linking(client, new_client, provider):
    set_up(provider)
    person = southwark_person()
    assert sign_in_there(client, provider, person.email).status_code == 302
    admin = make_person("admin@example.org", roles=(Role.ADMIN,))
    accounts.deactivate_person(admin, person, "left the council")
    db.session.commit()
    answer = sign_in_there(new_client(), provider, person.email)
    assert answer.status_code == 403 and page_title(answer) == "Your Pathways account has been deactivated – Pathways"
    other = southwark_person(f"dan@{DOMAIN}")
    accounts.deactivate_person(admin, other, "left the council")
    db.session.commit()
    assert sign_in_there(new_client(), provider, other.email).status_code == 403
    assert refusals() == ["deactivated", "deactivated"]


def test_a_state_works_once_and_only_in_the_browser_that_set_off(client, new_client, provider):
    set_up(provider)
    person = southwark_person()
    location = set_off(client, person.email)
    callback = provider.approve(location, person.email)
    # Another browser (an attacker's link) with this answer: refused.
    stranger = new_client()
    assert come_back(stranger, callback).status_code == 400
    # The trip is used up: the browser that set off cannot use it either, nor replay it.
    replay = come_back(client, callback)
    assert replay.status_code == 400
    assert page_title(replay) == "Your sign-in link has already been used or has expired – Pathways"
    assert not signed_in_as(client)
    assert refusals() == ["state_mismatch", "state_mismatch"]


def test_a_replayed_answer_after_signing_in_is_refused(client, provider):
    set_up(provider)
    person = southwark_person()
    location = set_off(client, person.email)
    callback = provider.approve(location, person.email)
    assert come_back(client, callback).status_code == 302
    client.post("/sign-out", data={"csrf_token": _token(client)})
    assert come_back(client, callback).status_code == 400
    assert refusals() == ["state_mismatch"]


def _token(client) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, "/account/sessions")


def test_an_unreachable_provider_gets_a_clear_page(client, provider):
    set_up(provider, issuer="http://127.0.0.1:9")
    person = southwark_person()
    answer = post_form(client, "/sign-in", {"email": person.email, "password": ""})
    assert answer.status_code == 502
    assert page_title(answer) == "Your council's sign-in is not available – Pathways"
    assert refusals() == ["provider_unreachable"]


def test_a_wrong_tenant_is_refused(client, provider):
    set_up(provider, tenant_id="11111111-2222-3333-4444-555555555555")
    southwark_person()
    provider.claim_changes = {"tid": "99999999-2222-3333-4444-555555555555"}
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}")
    assert answer.status_code == 403 and refusals() == ["wrong_issuer"]
    provider.claim_changes = {"tid": "11111111-2222-3333-4444-555555555555"}
    assert sign_in_there(client, provider, f"kemi@{DOMAIN}").status_code == 302


# The second factor ------------------------------------------------------------------------------------------------


def test_a_coordinator_whose_provider_checked_a_second_factor_is_not_asked_for_pathways_own(client, provider):
    set_up(provider)
    southwark_person(roles=(Role.COORDINATOR,))
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}", multi_factor=True, next_url="/account/sessions")
    assert answer.headers["Location"] == "/account/sessions"
    assert client.get("/account/sessions").status_code == 200


def test_acr_saying_multi_factor_counts_too(client, provider):
    set_up(provider)
    southwark_person(roles=(Role.COORDINATOR,))
    provider.claim_changes = {"amr": None, "acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}", next_url="/account/sessions")
    assert answer.headers["Location"] == "/account/sessions"


def test_a_coordinator_with_only_a_password_at_the_provider_gives_pathways_own_second_factor(client, provider):
    set_up(provider)
    southwark_person(roles=(Role.COORDINATOR,))
    answer = sign_in_there(client, provider, f"kemi@{DOMAIN}", next_url="/account/sessions")
    assert answer.headers["Location"] == "/account/authenticator/set-up"
    assert client.get("/account/sessions").status_code == 302  # not signed in yet
    page = client.get("/account/authenticator/set-up")
    done = post_form(client, "/account/authenticator/set-up",
                     {"code": pyotp.TOTP(secret_shown(html_of(page))).now()})
    assert page_title(done) == "Save your recovery codes – Pathways"
    assert client.get("/account/sessions").status_code == 200


# Signing out ------------------------------------------------------------------------------------------------------


def test_signing_out_ends_the_pathways_session_and_offers_to_sign_out_at_the_provider(client, provider):
    set_up(provider)
    person = southwark_person()
    assert sign_in_there(client, provider, person.email).status_code == 302
    signed_out = client.post("/sign-out", data={"csrf_token": _token(client)}, follow_redirects=True)
    assert "Sign out of your council account too" in text_of(signed_out)
    assert not signed_in_as(client)
    there = post_form(client, "/sign-out/council", token_from="/sign-in")
    location = there.headers["Location"]
    assert location.startswith(provider.issuer + "/end-session?")
    assert parse_qs(urlsplit(location).query)["post_logout_redirect_uri"] == ["http://localhost/sign-in"]
    assert "Sign out of your council account too" not in text_of(client.get("/sign-in"))


def test_someone_who_signed_in_with_a_password_is_not_offered_it(client, provider):
    set_up(provider)
    person = make_person()
    sign_in(client, person)
    signed_out = client.post("/sign-out", data={"csrf_token": _token(client)}, follow_redirects=True)
    assert "council account too" not in text_of(signed_out)


# Setting a provider up --------------------------------------------------------------------------------------------


def test_an_admin_sets_up_single_sign_on_and_the_secret_is_never_shown_back(client, provider):
    admin = make_person("admin@example.org", roles=(Role.ADMIN,))
    sign_in(client, admin)
    southwark = organisation()
    page = f"/admin/organisations/{southwark.id}/single-sign-on"
    assert "Set up" in text_of(client.get(f"/admin/organisations/{southwark.id}"))
    missing = post_form(client, page, {"issuer": "ftp://x", "client_id": "pathways-tests", "allowed_domains": "x"})
    assert field_error(missing, "issuer").startswith("The issuer must be an https:// address")
    bad_domain = post_form(client, page, {"issuer": provider.issuer, "client_id": "c", "client_secret": "s",
                                          "allowed_domains": "not a domain"})
    assert "is not an email domain" in field_error(bad_domain, "allowed_domains")
    no_secret = post_form(client, page, {"issuer": provider.issuer, "client_id": "c", "allowed_domains": DOMAIN})
    assert field_error(no_secret, "client_secret") == "Enter the client secret your identity provider gave Pathways"
    saved = post_form(client, page, {"issuer": provider.issuer, "client_id": "pathways-tests",
                                     "client_secret": SECRET, "allowed_domains": f"{DOMAIN}\n@Other.example",
                                     "creates_learners": "y"})
    assert saved.status_code == 302
    shown = client.get(page)
    assert SECRET not in html_of(shown) and "A client secret is saved" in text_of(shown)
    configured = single_sign_on.provider_of(southwark)
    assert configured.domains == [DOMAIN, "other.example"] and configured.creates_learners
    assert SECRET not in configured.sealed_client_secret
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "identity_provider.saved"))
    assert event.actor_id == admin.id and SECRET not in str(event.details)
    # Saving again without a secret keeps it.
    post_form(client, page, {"issuer": provider.issuer, "client_id": "pathways-tests", "allowed_domains": DOMAIN})
    db.session.expire_all()
    assert single_sign_on.client_secret(single_sign_on.provider_of(southwark)) == SECRET
    removed = post_form(client, f"{page}/remove", token_from=page)
    assert removed.status_code == 302 and single_sign_on.provider_of(southwark) is None


def test_only_admins_reach_the_page(client, provider):
    coordinator = make_person("cora@example.org", roles=(Role.COORDINATOR,), scope=(SOUTHWARK,))
    sign_in(client, coordinator)
    assert client.get(f"/admin/organisations/{organisation().id}/single-sign-on").status_code == 403


def test_the_command_line_adds_lists_and_tests_a_provider_without_showing_the_secret(runner, provider,
                                                                                     monkeypatch):
    monkeypatch.setenv("SOUTHWARK_OIDC_SECRET", SECRET)
    added = runner.invoke(args=["sso", "add", SOUTHWARK, "--issuer", provider.issuer, "--client-id",
                                "pathways-tests", "--client-secret-env", "SOUTHWARK_OIDC_SECRET", "--domain", DOMAIN])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=["sso", "list"])
    assert provider.issuer in listed.output and DOMAIN in listed.output and SECRET not in listed.output
    tested = runner.invoke(args=["sso", "test", SOUTHWARK])
    assert tested.exit_code == 0, tested.output
    assert "Signing keys: 1" in tested.output and provider.issuer + "/end-session" in tested.output
    assert SECRET not in tested.output


def test_command_line_errors_name_what_is_wrong(runner, provider, monkeypatch):
    unknown = runner.invoke(args=["sso", "test", "NOPE"])
    assert unknown.exit_code != 0 and "no organisation has the code 'NOPE'" in unknown.output
    none = runner.invoke(args=["sso", "test", SOUTHWARK])
    assert "has no identity provider" in none.output
    unset = runner.invoke(args=["sso", "add", SOUTHWARK, "--issuer", provider.issuer, "--client-id", "c",
                                "--client-secret-env", "NOT_SET_ANYWHERE", "--domain", DOMAIN])
    assert "the environment variable NOT_SET_ANYWHERE is not set" in unset.output
    monkeypatch.setenv("SECRET_FOR_TEST", SECRET)
    bad = runner.invoke(args=["sso", "add", SOUTHWARK, "--issuer", "http://example.org", "--client-id", "c",
                              "--client-secret-env", "SECRET_FOR_TEST", "--domain", DOMAIN])
    assert bad.exit_code != 0 and "--issuer: The issuer must be an https:// address" in bad.output
    runner.invoke(args=["sso", "add", SOUTHWARK, "--issuer", "http://127.0.0.1:9", "--client-id", "c",
                        "--client-secret-env", "SECRET_FOR_TEST", "--domain", DOMAIN])
    unreachable = runner.invoke(args=["sso", "test", SOUTHWARK])
    assert unreachable.exit_code != 0 and "Your council's sign-in is not available" in unreachable.output


def test_someone_who_moved_to_another_organisation_is_no_longer_signed_in_by_the_old_one(client, new_client,
                                                                                         provider):
    set_up(provider)
    person = southwark_person()
    assert sign_in_there(client, provider, person.email).status_code == 302
    browser = new_client()
    callback = provider.approve(set_off(browser, person.email), person.email)
    person.organisation = organisation("E09000012")  # moved while signing in
    db.session.commit()
    answer = come_back(browser, callback)
    assert answer.status_code == 403 and refusals() == ["wrong_issuer"]


def test_the_sign_in_page_lets_its_form_lead_to_the_providers_and_nowhere_else(client, provider):
    assert "form-action 'self';" in client.get("/sign-in").headers["Content-Security-Policy"]
    set_up(provider)
    assert f"form-action 'self' {provider.issuer};" in client.get("/sign-in").headers["Content-Security-Policy"]
    assert "form-action 'self';" in client.get("/forgot-password").headers["Content-Security-Policy"]


def test_a_new_issuer_forgets_the_old_ones_subjects(client, provider):
    set_up(provider)
    person = southwark_person()
    assert sign_in_there(client, provider, person.email).status_code == 302
    set_up(provider)  # the same issuer again: links stay
    assert db.session.scalar(select(func.count()).select_from(SingleSignOnLink)) == 1
    set_up(provider, issuer="https://login.example.net/tenant/v2.0")
    assert db.session.scalar(select(func.count()).select_from(SingleSignOnLink)) == 0


def test_trips_to_the_provider_are_forgotten_a_day_after_they_could_be_answered(client, provider):
    from datetime import timedelta

    import time_machine

    from app.models import SingleSignOnRequest
    from app.models.types import utcnow

    set_up(provider)
    start = utcnow()
    with time_machine.travel(start, tick=False) as traveller:
        set_off(client, f"kemi@{DOMAIN}")
        traveller.move_to(start + timedelta(days=1, minutes=single_sign_on.REQUEST_MINUTES - 1))
        set_off(client, f"kemi@{DOMAIN}")
        assert single_sign_on.purge_old_requests() == 0
        traveller.move_to(start + timedelta(days=1, minutes=single_sign_on.REQUEST_MINUTES + 1))
        assert single_sign_on.purge_old_requests() == 1
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(SingleSignOnRequest)) == 1
