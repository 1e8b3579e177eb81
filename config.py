"""Pathways configuration, read from the environment.

Every setting is listed in the README's configuration table. ``create_app`` picks one of the
named configurations below from ``PATHWAYS_ENV`` (development by default).
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"

# Signs development sessions only; production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "pathways-development-key-not-for-production"  # noqa: S105


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class Config:
    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'pathways.db'}"
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Address used in links inside emails (invitations, password resets).
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")

    # Sessions: the signed cookie carries its own timestamp, so an idle session expires server-side too.
    SESSION_COOKIE_NAME = "pathways_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    # Re-signed when it grows old rather than on every response (app/web.py keep_session_alive).
    SESSION_REFRESH_EACH_REQUEST = False
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=_int("SESSION_IDLE_MINUTES", 30))
    # However active, a session ends this long after signing in (each session is recorded in the database).
    SESSION_ABSOLUTE_HOURS = _int("SESSION_ABSOLUTE_HOURS", 12)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Off-the-job hours: the most that can be logged for one day (lump entries fail audits), and evidence
    # files, kept outside static/ and served only to people who may see the apprenticeship record.
    OTJ_MAX_HOURS_PER_DAY = Decimal(os.environ.get("OTJ_MAX_HOURS_PER_DAY") or "8")
    EVIDENCE_DIR = os.environ.get("EVIDENCE_DIR") or str(INSTANCE_DIR / "evidence")
    EVIDENCE_MAX_BYTES = _int("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024)

    # A request's whole body, so it always has room for the largest evidence file and the form around it.
    MAX_CONTENT_LENGTH = max(_int("MAX_UPLOAD_BYTES", 5 * 1024 * 1024), EVIDENCE_MAX_BYTES + 256 * 1024)

    # Sign-in throttling. An account may fail SIGN_IN_MAX_FAILURES_PER_ACCOUNT times; then it waits the window
    # before its next try, and each further failure doubles the wait, up to SIGN_IN_MAX_WAIT_MINUTES. Failures are
    # forgotten after SIGN_IN_MEMORY_HOURS (or on a success from the same address), and the holder is emailed
    # at most once in that time. One client address may fail SIGN_IN_MAX_FAILURES_PER_ADDRESS times in the window
    # (high enough for everyone behind one proxy, low enough to stop spraying guesses across accounts).
    SIGN_IN_WINDOW_MINUTES = _int("SIGN_IN_WINDOW_MINUTES", 15)
    SIGN_IN_MAX_FAILURES_PER_ACCOUNT = _int("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", 5)
    SIGN_IN_MAX_WAIT_MINUTES = _int("SIGN_IN_MAX_WAIT_MINUTES", 60)
    SIGN_IN_MEMORY_HOURS = _int("SIGN_IN_MEMORY_HOURS", 24)
    SIGN_IN_MAX_FAILURES_PER_ADDRESS = _int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", 100)

    # "Forgot your password": requests allowed inside the window per email address asked for (which is per
    # account) and per client address.
    PASSWORD_RESET_WINDOW_MINUTES = _int("PASSWORD_RESET_WINDOW_MINUTES", 60)
    PASSWORD_RESET_MAX_PER_ADDRESS = _int("PASSWORD_RESET_MAX_PER_ADDRESS", 3)
    PASSWORD_RESET_MAX_PER_CLIENT = _int("PASSWORD_RESET_MAX_PER_CLIENT", 50)

    # Public certificate checks (by code or by file): look-ups allowed per client address inside the window,
    # so verification codes cannot be harvested by trying them.
    VERIFY_RATE_LIMIT = _int("VERIFY_RATE_LIMIT", 30)
    VERIFY_RATE_WINDOW_MINUTES = _int("VERIFY_RATE_WINDOW_MINUTES", 10)
    # Worker processes that render PDFs when a coordinator issues a cohort's certificates from the web pages
    # (1 renders in the web worker itself; the CLI takes --processes).
    CERTIFICATE_BATCH_PROCESSES = _int("CERTIFICATE_BATCH_PROCESSES", 1)

    # The scheduler process (`flask scheduler run`): how often the active one renews its lease and a standby
    # looks for one run out; how long a lease lasts unless renewed (empty: four polls); and which jobs it
    # schedules (comma-separated names; empty for all). Checked when the scheduler starts.
    SCHEDULER_POLL_SECONDS = os.environ.get("SCHEDULER_POLL_SECONDS") or 5
    SCHEDULER_LEASE_SECONDS = os.environ.get("SCHEDULER_LEASE_SECONDS", "")
    SCHEDULER_JOBS = os.environ.get("SCHEDULER_JOBS", "")

    PASSWORD_MIN_LENGTH = _int("PASSWORD_MIN_LENGTH", 12)
    # argon2id cost: OWASP's minimum profile (19 MiB, 2 passes, 1 lane). RFC 9106's 64 MiB, 3 passes and 4 lanes
    # cost about seven times the processor time per sign-in (~300 ms against ~45 ms measured here) and under load
    # kept both web workers signing people in. Hashes made at another cost are upgraded at the next sign-in.
    ARGON2_TIME_COST = _int("ARGON2_TIME_COST", 2)
    ARGON2_MEMORY_KIB = _int("ARGON2_MEMORY_KIB", 19456)
    ARGON2_PARALLELISM = _int("ARGON2_PARALLELISM", 1)
    INVITATION_VALID_DAYS = _int("INVITATION_VALID_DAYS", 7)
    PASSWORD_RESET_VALID_MINUTES = _int("PASSWORD_RESET_VALID_MINUTES", 60)

    # Email: "outbox" keeps messages on the admin outbox page; "smtp" sends them.
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "outbox")
    MAIL_SENDER = os.environ.get("MAIL_SENDER", "Pathways <no-reply@pathways.london>")
    SMTP_HOST = os.environ.get("SMTP_HOST", "localhost")
    SMTP_PORT = _int("SMTP_PORT", 25)
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _bool("SMTP_STARTTLS", False)
    SMTP_TIMEOUT_SECONDS = _int("SMTP_TIMEOUT_SECONDS", 10)
    MAIL_MAX_ATTEMPTS = _int("MAIL_MAX_ATTEMPTS", 8)
    # How long a sender holds the messages it claimed: others leave them alone meanwhile, and take them over
    # after it (a sender that died). Keep it well above SMTP_TIMEOUT_SECONDS.
    MAIL_CLAIM_SECONDS = _int("MAIL_CLAIM_SECONDS", 300)
    # The Outbox page shows links to set a password (invitations, resets) only where this is on: development and
    # testing, so demo invitations can be followed. Never in production: whoever reads a live link owns the account.
    OUTBOX_SHOWS_LINKS = False
    # The daily purge blanks the body of sent or failed link emails after OUTBOX_LINK_BODY_DAYS (the recipient has
    # the link; a copy here only puts the account at risk) and deletes sent and failed messages after OUTBOX_KEEP_DAYS.
    OUTBOX_LINK_BODY_DAYS = _int("OUTBOX_LINK_BODY_DAYS", 7)
    OUTBOX_KEEP_DAYS = _int("OUTBOX_KEEP_DAYS", 90)

    # Who runs Pathways and how to reach them: named on the accessibility statement, privacy notice and cookies page.
    PATHWAYS_OPERATOR = os.environ.get("PATHWAYS_OPERATOR") or "London Councils"
    PATHWAYS_CONTACT_EMAIL = os.environ.get("PATHWAYS_CONTACT_EMAIL") or "help@pathways.london"

    COURSES_DIR = os.environ.get("COURSES_DIR", str(BASE_DIR / "courses"))
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # Trust X-Forwarded-For from this many proxies in front of the app (0 = none).
    PROXY_COUNT = _int("PROXY_COUNT", 0)

    @classmethod
    def check(cls) -> None:
        """Refuse to start with a configuration that is unsafe for this environment."""


def served_address() -> str:
    """Where the development server listens, as ``flask run`` reads it from the environment (``make run`` sets
    FLASK_RUN_HOST and FLASK_RUN_PORT from HOST and PORT): links in emails and certificates' links and QR
    codes then point at the server actually running. A wildcard host is not an address to visit: loopback is."""
    host = os.environ.get("FLASK_RUN_HOST") or "127.0.0.1"
    port = os.environ.get("FLASK_RUN_PORT") or "5000"
    if host in {"0.0.0.0", "::", "[::]"}:  # noqa: S104 - a listening address turned into one to visit
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class _ReadWhenLoaded:
    """A setting worked out from the environment when an application loads its configuration, not when this
    module is imported (the environment may change in between, as in the tests)."""

    def __init__(self, read):
        self.read = read

    def __get__(self, _instance, _owner):
        return self.read()


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    OUTBOX_SHOWS_LINKS = True
    # An explicit BASE_URL wins; otherwise the development server's own address.
    BASE_URL = _ReadWhenLoaded(lambda: os.environ.get("BASE_URL") or served_address())


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "pathways-testing-key"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or "sqlite://"
    WTF_CSRF_ENABLED = True
    MAIL_BACKEND = "outbox"
    OUTBOX_SHOWS_LINKS = True
    BASE_URL = "http://pathways.test"
    # Created on first upload; nothing a test stores lands in the instance folder.
    EVIDENCE_DIR = os.environ.get("EVIDENCE_DIR") or str(Path(tempfile.gettempdir()) / "pathways-test-evidence")


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    MAIL_BACKEND = os.environ.get("MAIL_BACKEND", "smtp")

    @classmethod
    def check(cls) -> None:
        key = os.environ.get("SECRET_KEY", "")
        if not key or key == DEVELOPMENT_SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set to a secret value in production")
        if len(key) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters in production")


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    name = name or os.environ.get("PATHWAYS_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"PATHWAYS_ENV must be one of {', '.join(CONFIGS)}; got {name!r}") from None
