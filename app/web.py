"""Request hooks, error pages and template set-up shared by every blueprint."""

from __future__ import annotations

import logging
import secrets
import time
import uuid

from flask import Flask, current_app, g, has_request_context, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from app import policy

request_log = logging.getLogger("pathways.request")
# Pathways uses none of these browser features; no page (or anything injected into one) may.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def init_request_hooks(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pathways").setLevel(app.config["LOG_LEVEL"])
    if app.config["PROXY_COUNT"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=1)

    @app.before_request
    def start_request():
        incoming = request.headers.get("X-Request-ID", "")
        # Accept a caller's id only if it is short and plain, so it is safe to log.
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        g.started = time.perf_counter()
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def finish_request(response):
        keep_session_alive()
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        nonce = g.get("csp_nonce", "")
        # A page may send its form on to other sites (the sign-in page, to organisations' identity providers).
        form_action = " ".join(["'self'", *g.get("form_action_origins", ())])
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
            f"img-src 'self' data:; form-action {form_action}; frame-ancestors 'none'; base-uri 'self'",
        )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if app.config["PREFERRED_URL_SCHEME"] == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Nothing shown to someone signed in is kept by a browser or proxy (pages, certificate ZIPs, exports),
        # unless a route made it public. Read from the session, not the person: a response must not need the
        # database (static files, /healthz).
        if session.get("_user_id") and request.endpoint != "static":
            cache = response.headers.get("Cache-Control", "")
            if "no-store" not in cache and "public" not in cache and "private" not in cache:
                response.headers["Cache-Control"] = "no-store"
        duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        request_log.info(
            "request_id=%s method=%s path=%s status=%s duration_ms=%.1f",
            g.get("request_id", "-"),
            request.method,
            request.path,
            response.status_code,
            duration_ms,
        )
        return response


# When the session cookie was last signed (seconds since the epoch), kept in the cookie itself.
COOKIE_SIGNED_AT = "_signed"


def keep_session_alive() -> None:
    """Idle sessions expire: the cookie is signed with a timestamp its reader checks against the idle lifetime.
    Re-signing it on every request would cost every response a serialisation, a compression and an HMAC, so it
    is re-signed only once it is older than a quarter of the idle lifetime (at most a minute): an active
    session never reaches its limit, an idle one ends as before. (The server's record of the session checks
    idleness on its own as well: ``services/sessions.py``.)"""
    if not session:
        return  # nothing to keep: no cookie is set for a visitor with no session
    if not session.permanent:
        session.permanent = True
    now = int(time.time())
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if session.modified or now - session.get(COOKIE_SIGNED_AT, 0) >= min(60, lifetime / 4):
        session[COOKIE_SIGNED_AT] = now


def init_error_handlers(app: Flask) -> None:
    from contextlib import suppress

    from flask import make_response
    from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from app.extensions import db, login_manager

    def page(code: int, title: str):
        return render_template(f"errors/{code}.html", title=title), code

    def unavailable(error: Exception):
        """While the database cannot be reached, every request gets this page. It is drawn from the templates
        alone: the person is shown as signed out for this one response (their session is untouched), so
        neither the layout nor the response hooks try to load them."""
        error_log.warning("request_id=%s path=%s database unavailable: %s", g.get("request_id", "-"),
                          request.path, _first_line(error))
        # The connection may be gone: the session is discarded at the end of the request anyway.
        with suppress(SQLAlchemyError):
            db.session.rollback()
        login_manager._update_request_context_with_user()  # anonymous, without reading the session's person
        response = make_response(render_template("errors/503.html", title=UNAVAILABLE_TITLE), 503)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(DBAPIError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeout)
    def database_error(error):
        if not database_unavailable(error):
            raise error  # a fault of the request itself: logged, and answered by the 500 page below
        return unavailable(error)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/400.html", title="Your form has expired", reason=error.description), 400

    @app.errorhandler(400)
    def bad_request(_error):
        return page(400, "There is a problem with your request")

    @app.errorhandler(403)
    def forbidden(_error):
        return page(403, "You do not have permission to see this page")

    @app.errorhandler(404)
    def not_found(_error):
        return page(404, "Page not found")

    @app.errorhandler(413)
    def too_large(_error):
        return page(413, "The file is too large")

    @app.errorhandler(500)
    def server_error(error):
        original = getattr(error, "original_exception", None)
        # Failures outside the view (e.g. loading the person for a response header) arrive here.
        if original is not None and database_unavailable(original):
            return unavailable(original)
        try:
            # The failed request's transaction may be unusable; the layout reads the person afresh.
            db.session.rollback()
            return page(500, "Sorry, there is a problem with Pathways")
        except SQLAlchemyError as failure:
            if database_unavailable(failure):
                return unavailable(failure)
            # Whatever broke also breaks reading the person: draw the page as for someone signed out.
            login_manager._update_request_context_with_user()
            return page(500, "Sorry, there is a problem with Pathways")


error_log = logging.getLogger("pathways.errors")
UNAVAILABLE_TITLE = "Sorry, Pathways is not available at the moment"
RETRY_AFTER_SECONDS = 30
# SQLite reports a missing or locked file, a full disk and a misspelt column alike as OperationalError: only
# these mean the database cannot be used just now.
SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked", "database table is locked",
                      "disk i/o error", "database or disk is full", "attempt to write a readonly database")


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached or used for now (so trying again later can
    work), rather than a fault of the request itself."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(error, DisconnectionError | PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    if type(error.orig).__module__.startswith("sqlite3"):
        return str(error.orig).lower().startswith(SQLITE_UNAVAILABLE)
    # psycopg's OperationalError: refused or lost connections, a server shutting down or out of
    # connections, deadlocks, lock and statement timeouts.
    return True


def _first_line(error: BaseException) -> str:
    """The driver's error in one line, for the log (a refused connection spans several)."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"


def init_templates(app: Flask) -> None:
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(app.template_folder),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    # GOV.UK's page template reads optional variables through attribute chains.
    app.jinja_env.undefined = ChainableUndefined
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    WTFormsHelpers(app)
    app.add_template_global(_error_summary, "wtforms_errors")

    @app.context_processor
    def navigation():
        return {
            "policy": policy,
            "csp_nonce": g.get("csp_nonce", ""),
            "navigation_items": policy.navigation_for(current_user, request.path if has_request_context() else ""),
        }

    @app.template_filter("datetime")
    def format_datetime(value):
        if value is None:
            return ""
        from zoneinfo import ZoneInfo

        return value.astimezone(ZoneInfo("Europe/London")).strftime("%-d %B %Y at %-I:%M%p").replace(
            "AM", "am"
        ).replace("PM", "pm")

    @app.template_filter("date")
    def format_date(value):
        return "" if value is None else value.strftime("%-d %B %Y")


def _error_summary(form, params=None):
    """The error summary's links, as govuk-frontend-wtf builds them, except that a date's link goes to its
    first box: the date group itself cannot take focus, so the link would leave the keyboard where it was."""
    from govuk_frontend_wtf.main import wtforms_errors
    from wtforms import DateField

    summary = wtforms_errors(form, params or {})
    dates = {f"#{field.id}": f"#{field.name}-day" for field in form if isinstance(field, DateField)}
    for error in summary.get("errorList", []):
        error["href"] = dates.get(error.get("href"), error.get("href"))
    return summary
