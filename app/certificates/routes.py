"""Certificates as issued. The holder and the coordinators responsible download the stored PDF (never
rendered again) and see its versions; coordinators reissue or revoke it with a reason. Anyone else gets
404, so the pages don't reveal which certificates exist."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import policy
from app.certificates.forms import ReissueForm, RevokeForm
from app.extensions import db
from app.forms import add_service_error
from app.models import Certificate, CertificateStatus
from app.services import ServiceError, certificates

bp = Blueprint("certificates", __name__)


def can_manage_certificates(person) -> bool:
    """Coordinators and admins reissue and revoke certificates; which ones is decided per certificate."""
    return policy.is_admin(person) or policy.is_coordinator(person)


def _certificate_or_404(certificate_id: int) -> Certificate:
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None or not certificates.can_download(current_user, certificate):
        abort(404)
    return certificate


def _changeable_or_403(certificate_id: int) -> Certificate:
    certificate = _certificate_or_404(certificate_id)
    if not certificates.may_change(current_user, certificate):
        abort(403)
    return certificate


@bp.get("/certificates/<int:certificate_id>.pdf")
@policy.signed_in
def download(certificate_id: int):
    certificate = _certificate_or_404(certificate_id)
    stored = certificates.stored_file(certificate)
    response = Response(stored.pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{certificates.filename(certificate)}"'})
    response.set_etag(stored.sha256)
    return response.make_conditional(request)


@bp.get("/certificates/<int:certificate_id>")
@policy.signed_in
def show(certificate_id: int):
    certificate = _certificate_or_404(certificate_id)
    current = certificates.current_of(certificate)
    return render_template("certificates/show.html", title=f"Certificate {certificate.number}",
                           certificate=certificate, current=current, versions=certificates.versions_of(certificate),
                           file=certificate.file, may_change=certificates.may_change(current_user, certificate),
                           verify_url=certificates.verify_url(certificate.verification_code),
                           code=certificates.display_code(certificate.verification_code), Status=CertificateStatus)


@bp.route("/certificates/<int:certificate_id>/reissue", methods=["GET", "POST"])
@policy.requires(can_manage_certificates)
def reissue(certificate_id: int):
    certificate = _changeable_or_403(certificate_id)
    form = ReissueForm()
    if form.validate_on_submit():
        try:
            new = certificates.reissue(current_user, certificate, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "reason")
        else:
            db.session.commit()
            flash(f"Certificate {new.number} has been reissued as version {new.version}. The earlier version is "
                  "kept and now shows as replaced.", "success")
            return redirect(url_for("certificates.show", certificate_id=new.id))
    return render_template("certificates/reissue.html", title=f"Reissue certificate {certificate.number}",
                           form=form, certificate=certificate)


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["GET", "POST"])
@policy.requires(can_manage_certificates)
def revoke(certificate_id: int):
    certificate = _changeable_or_403(certificate_id)
    form = RevokeForm()
    if form.validate_on_submit():
        try:
            certificates.revoke(current_user, certificate, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "reason")
        else:
            db.session.commit()
            flash(f"Certificate {certificate.number} has been revoked. Anyone who checks it is told so.", "success")
            return redirect(url_for("certificates.show", certificate_id=certificate.id))
    return render_template("certificates/revoke.html", title=f"Revoke certificate {certificate.number}",
                           form=form, certificate=certificate)
