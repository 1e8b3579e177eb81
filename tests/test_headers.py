"""Security headers on every response: browser features turned off, HTTPS only in production, and nothing
shown to someone signed in kept by a cache."""

from __future__ import annotations

from app import create_app
from tests.conftest import make_person, sign_in


def test_every_page_turns_off_the_browser_features_pathways_does_not_use(client):
    for path in ("/sign-in", "/verify", "/healthz", "/no-such-page"):
        policy = client.get(path).headers["Permissions-Policy"]
        assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy, path


def test_production_tells_browsers_to_use_https_only(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-for-this-test-0123456789")
    production = create_app("production", SQLALCHEMY_DATABASE_URI=database_url)
    response = production.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_development_and_tests_do_not_pin_https(client):
    assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_pages_for_someone_signed_in_are_never_stored_but_static_files_are_cached(client):
    sign_in(client, make_person())
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/favicon.svg").headers.get("Cache-Control", "")
