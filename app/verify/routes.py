"""Anyone can check a Pathways certificate: type its verification code, follow its QR code, or upload its
PDF. Every outcome, including "no such certificate", is told on a page of the same shape. Look-ups are
limited per client address; the pages are never cached or indexed."""

from __future__ import annotations

import math

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from app import policy
from app.extensions import db
from app.services import verification
from app.verify.forms import CodeForm, PdfForm

bp = Blueprint("verify", __name__)
OUTCOME_TITLE = "Certificate check"


@bp.after_request
def _not_for_caches_or_search_engines(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _client_address() -> str:
    # The same address sign-in throttling counts: the peer, or the client behind PROXY_COUNT trusted proxies.
    return request.remote_addr or ""


def _too_many(address: str):
    seconds = verification.retry_after(address)
    minutes = max(1, math.ceil(seconds / 60))
    response = current_app.make_response((render_template(
        "verify/too_many.html", title="Too many certificate checks", minutes=minutes,
        limit=current_app.config["VERIFY_RATE_LIMIT"], window=current_app.config["VERIFY_RATE_WINDOW_MINUTES"],
    ), 429))
    response.headers["Retry-After"] = str(max(1, seconds))
    return response


@bp.route("/verify", methods=["GET", "POST"])
@policy.public
def start():
    form = CodeForm()
    if form.validate_on_submit():
        return redirect(url_for("verify.code", code=verification.display_code(form.normalised)))
    return render_template("verify/start.html", title="Check a Pathways certificate", form=form)


@bp.get("/verify/<code>")
@policy.public
def code(code: str):
    address = _client_address()
    attempt = verification.take_attempt(address)
    if attempt is None:
        db.session.rollback()
        return _too_many(address)
    finding = verification.look_up(code)
    attempt.found = finding.found
    db.session.commit()
    return render_template("verify/outcome.html", title=OUTCOME_TITLE, finding=finding, by_file=False)


@bp.route("/verify/check-a-pdf", methods=["GET", "POST"])
@policy.public
def check_pdf():
    form = PdfForm()
    if form.validate_on_submit():
        address = _client_address()
        attempt = verification.take_attempt(address)
        if attempt is None:
            db.session.rollback()
            return _too_many(address)
        finding = verification.check_pdf(form.content)
        attempt.found = finding.found
        db.session.commit()
        return render_template("verify/outcome.html", title=OUTCOME_TITLE, finding=finding, by_file=True,
                               filename=form.file.data.filename)
    return render_template("verify/check_pdf.html", title="Check a certificate file", form=form)


@bp.errorhandler(413)
def _file_too_large(_error):
    """A file over the upload limit: say so beside the field, as for any other wrong file."""
    if request.endpoint != "verify.check_pdf":
        return render_template("errors/413.html", title="The file is too large"), 413
    form = PdfForm(formdata=None)
    megabytes = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    form.file.errors = [f"The selected file must be smaller than {megabytes} MB"]
    return render_template("verify/check_pdf.html", title="Check a certificate file", form=form), 413
