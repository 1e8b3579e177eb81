"""The look and the shared behaviour of every page: GOV.UK style without gov.uk branding,
error pages, security headers and the home page by role."""

import re
from pathlib import Path

import pytest

from app import create_app
from app.models import Role
from tests.conftest import TEST_SETTINGS, make_person, sign_in

ROOT = Path(__file__).resolve().parent.parent


def test_pages_carry_security_headers(client):
    response = client.get("/sign-in")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # The one inline script (GOV.UK's js-enabled switch) carries the request's nonce.
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.get_data(as_text=True)


def test_signed_in_pages_are_not_cached(client, signed_in_admin):
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_service_is_called_pathways_without_gov_uk_branding(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert "<title>Sign in – Pathways</title>" in html
    assert re.search(r'govuk-service-navigation__service-name">\s*<a href="/"[^>]*>\s*Pathways\s*</a>', html)
    assert "govuk-header__logotype" not in html and "govuk-logo" not in html
    assert "GOV.UK" not in html
    assert 'href="#main-content"' in html  # skip link
    css = (ROOT / "static" / "dist" / "pathways.css").read_text()
    assert "GDS Transport" not in css and "govuk-frontend" not in (ROOT / ".gitignore").read_text().splitlines()


def test_not_found_page_in_the_same_style(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<title>Page not found – Pathways</title>" in html
    assert "govuk-heading-l" in html


def test_forbidden_page(client):
    learner = make_person("learner@example.org", roles=(Role.LEARNER,))
    sign_in(client, learner)
    response = client.get("/admin/audit")
    assert response.status_code == 403
    assert "You do not have permission to see this page" in response.get_data(as_text=True)


def test_server_error_page_quotes_the_request_id(database_url):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, PROPAGATE_EXCEPTIONS=False, **TEST_SETTINGS)

    @app.get("/explode")
    def explode():
        raise RuntimeError("boom")

    explode.access = "public"
    response = app.test_client().get("/explode", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Sorry, there is a problem with Pathways" in html
    assert "req-42" in html


def test_a_form_posted_without_its_csrf_token_is_refused(client):
    response = client.post("/forgot-password", data={"email": "someone@example.org"})
    assert response.status_code == 400
    assert "Your form has expired" in response.get_data(as_text=True)


def test_anonymous_home_is_a_start_page(client):
    html = client.get("/").get_data(as_text=True)
    assert "Digital skills for London" in html
    assert 'href="/sign-in"' in html


@pytest.mark.parametrize(
    ("roles", "expected", "absent"),
    [
        ((Role.LEARNER,), ["Leadership courses"], ["Manage people", "Running Pathways"]),
        ((Role.APPRENTICE,), ["Your apprenticeship"], ["Manage people"]),
        ((Role.SUPERVISOR,), ["Apprentices you supervise"], ["Manage people"]),
        ((Role.COORDINATOR,), ["Manage people", "Invite people from a CSV file"], ["Running Pathways"]),
        ((Role.ADMIN,), ["Manage people", "Running Pathways", "Audit trail"], []),
    ],
)
def test_home_shows_what_each_role_can_do(client, roles, expected, absent):
    person = make_person("someone@example.org", name="Sam Example", roles=roles, scope=())
    sign_in(client, person)
    html = client.get("/").get_data(as_text=True)
    assert "Welcome, Sam Example" in html
    for text in expected:
        assert text in html
    for text in absent:
        assert text not in html
