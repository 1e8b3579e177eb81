"""The accessibility statement, privacy notice and cookies page. What they say about Pathways' own behaviour
(its cookie, how long records are kept) is read from the configuration, so the pages follow the settings."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from app.policy import public
from app.services.retention import retention_periods

bp = Blueprint("statements", __name__)


def _session_limits() -> dict:
    config = current_app.config
    return {"idle_minutes": int(config["PERMANENT_SESSION_LIFETIME"].total_seconds() // 60),
            "absolute_hours": config["SESSION_ABSOLUTE_HOURS"]}


def _contact() -> dict:
    config = current_app.config
    return {"operator": config["PATHWAYS_OPERATOR"], "email": config["PATHWAYS_CONTACT_EMAIL"],
            "base_url": config["BASE_URL"]}


@bp.route("/accessibility-statement")
@public
def accessibility():
    return render_template("statements/accessibility.html", title="Accessibility statement for Pathways",
                           contact=_contact(), **_session_limits())


@bp.route("/privacy-notice")
@public
def privacy():
    return render_template("statements/privacy.html", title="Privacy notice", contact=_contact(),
                           retention=retention_periods())


@bp.route("/cookies")
@public
def cookies():
    return render_template("statements/cookies.html", title="Cookies", contact=_contact(),
                           cookie_name=current_app.config["SESSION_COOKIE_NAME"], **_session_limits())
