import pytest

from app import create_app
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
