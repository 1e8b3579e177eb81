import pytest

from app import create_app
from app.services.tokens import external_url
from config import DEVELOPMENT_SECRET_KEY, get_config


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app("production")


def test_production_refuses_the_development_secret_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app("production")


def test_production_refuses_a_short_secret_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        create_app("production")


def test_production_starts_with_a_proper_key_and_secure_cookies(monkeypatch, database_url):
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    app = create_app("production", SQLALCHEMY_DATABASE_URI=database_url)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_unknown_environment_name_is_a_clear_error():
    with pytest.raises(RuntimeError, match="PATHWAYS_ENV must be one of"):
        get_config("staging")


def test_sqlite_is_the_default_database(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert get_config("development").SQLALCHEMY_DATABASE_URI.endswith("instance/pathways.db")


def test_in_development_links_follow_the_port_the_server_is_run_on(monkeypatch, database_url):
    """`make run PORT=5101` runs `flask run` with FLASK_RUN_PORT=5101: emails and certificates link there."""
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.setenv("FLASK_RUN_HOST", "127.0.0.1")
    monkeypatch.setenv("FLASK_RUN_PORT", "5101")
    app = create_app("development", SQLALCHEMY_DATABASE_URI=database_url)
    assert app.config["BASE_URL"] == "http://127.0.0.1:5101"

    with app.app_context():
        assert external_url("verify.start") == "http://127.0.0.1:5101/verify"


def test_a_development_server_on_every_address_links_to_loopback(monkeypatch):
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.setenv("FLASK_RUN_HOST", "0.0.0.0")  # noqa: S104 - the address the server is told to listen on
    monkeypatch.setenv("FLASK_RUN_PORT", "8080")
    assert get_config("development").BASE_URL == "http://127.0.0.1:8080"


def test_without_a_port_given_development_links_to_the_default_one(monkeypatch):
    for name in ("BASE_URL", "FLASK_RUN_HOST", "FLASK_RUN_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert get_config("development").BASE_URL == "http://127.0.0.1:5000"


def test_an_explicit_base_url_wins_over_the_served_port(monkeypatch, database_url):
    monkeypatch.setenv("FLASK_RUN_PORT", "5101")
    monkeypatch.setenv("BASE_URL", "https://pathways.example.org")
    app = create_app("development", SQLALCHEMY_DATABASE_URI=database_url)
    assert app.config["BASE_URL"] == "https://pathways.example.org"
