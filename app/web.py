"""Request hooks, error pages and template set-up shared by every blueprint."""

from __future__ import annotations

import logging
import secrets
import time
import uuid

from flask import Flask, g, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from app import policy

request_log = logging.getLogger("pathways.request")


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
        # Idle sessions expire: the cookie is re-signed with a fresh timestamp on each request.
        session.permanent = True

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        nonce = g.get("csp_nonce", "")
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
            "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'self'",
        )
        if current_user and current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
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


def init_error_handlers(app: Flask) -> None:
    def page(code: int, title: str):
        return render_template(f"errors/{code}.html", title=title), code

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
    def server_error(_error):
        return page(500, "Sorry, there is a problem with Pathways")


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
            "navigation_items": policy.navigation_for(current_user),
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
