"""The home page and the health checks."""

from flask import Blueprint, jsonify, render_template
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.policy import public
from app.services import certificates, clock
from app.services.home import home_for
from app.web import RETRY_AFTER_SECONDS

bp = Blueprint("main", __name__)


@bp.get("/")
@public
def home():
    if not current_user.is_authenticated:
        return render_template("main/start.html", title="Digital skills for London's public services")
    person = current_user._get_current_object()  # the person, not the proxy: the sections ask many questions
    today = clock.today()
    home = home_for(person, today)
    return render_template("main/home.html", title="Home", home=home, sections=home.sections,
                           certificates=certificates.certificates_of(person))


@bp.get("/healthz")
@public
def healthz():
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz():
    """The process can reach its database."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        response = jsonify(status="unavailable", reason=f"database unreachable: {type(error).__name__}")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, 503
    return jsonify(status="ok")
