"""Pages for apprenticeship standards: the list, one standard with its versions and KSBs, and adding a
standard or a new version."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import policy
from app.extensions import db
from app.forms import add_service_error
from app.models import KsbKind, Standard
from app.services import ServiceError, standards
from app.standards.forms import NewStandardForm, StandardVersionForm

bp = Blueprint("standards", __name__)
manage = policy.requires(policy.can_manage_standards)
KIND_HEADINGS = {KsbKind.KNOWLEDGE: "Knowledge", KsbKind.SKILL: "Skills", KsbKind.BEHAVIOUR: "Behaviours"}


def _standard_or_404(standard_id: int) -> Standard:
    standard = standards.get_standard(standard_id)
    if standard is None:
        abort(404)
    return standard


def _version_values(form: StandardVersionForm) -> dict:
    return {"version": form.version.data, "lars_code": form.lars_code.number,
            "typical_duration_months": form.typical_duration_months.number,
            "otj_minimum_hours": form.otj_minimum_hours.number, "epa_grades": form.epa_grades.data or [],
            "ksb_text": form.ksb_text.data}


def _show_refusal(form, error: ServiceError) -> None:
    for refusal in getattr(error, "errors", [error]):
        add_service_error(form, refusal, "version")


@bp.get("/standards")
@manage
def index():
    return render_template("standards/index.html", title="Apprenticeship standards", rows=standards.list_standards())


@bp.get("/standards/<int:standard_id>")
@manage
def show(standard_id: int):
    standard = _standard_or_404(standard_id)
    versions = standards.versions_newest_first(standard)
    return render_template("standards/show.html", title=f"{standard.title} ({standard.reference})", standard=standard,
                           versions=versions, ksbs={v.id: standards.ksbs_by_kind(v) for v in versions},
                           kind_headings=KIND_HEADINGS)


@bp.route("/standards/new", methods=["GET", "POST"])
@manage
def new_standard():
    form = NewStandardForm()
    if form.validate_on_submit():
        try:
            version = standards.add_standard_version(
                current_user, reference=form.reference.data, title=form.title.data, level=int(form.level.data),
                route=form.route.data, **_version_values(form))
        except ServiceError as error:
            db.session.rollback()
            _show_refusal(form, error)
        else:
            db.session.commit()
            flash(f"{version.standard.title} ({version.standard.reference}) has been added, with version "
                  f"{version.version} and its {len(version.ksbs)} KSBs.", "success")
            return redirect(url_for("standards.show", standard_id=version.standard_id))
    return render_template("standards/version_form.html", title="Add a standard", form=form, standard=None,
                           current=None)


@bp.route("/standards/<int:standard_id>/versions/new", methods=["GET", "POST"])
@manage
def new_version(standard_id: int):
    standard = _standard_or_404(standard_id)
    current = standards.latest_version(standard)
    form = StandardVersionForm()
    copied = request.method == "GET" and bool(request.args.get("copy")) and current is not None
    if copied:
        form.lars_code.data = str(current.lars_code or "")
        form.typical_duration_months.data = str(current.typical_duration_months)
        form.otj_minimum_hours.data = str(current.otj_minimum_hours or "")
        form.epa_grades.data = list(current.epa_grades)
        form.ksb_text.data = standards.ksb_text_for(current)
    if form.validate_on_submit():
        try:
            version = standards.add_standard_version(current_user, standard=standard, **_version_values(form))
        except ServiceError as error:
            db.session.rollback()
            _show_refusal(form, error)
        else:
            db.session.commit()
            flash(f"Version {version.version} of {standard.title} has been added, with its {len(version.ksbs)} KSBs.",
                  "success")
            return redirect(url_for("standards.show", standard_id=standard.id))
    return render_template("standards/version_form.html", title=f"Add a version of {standard.title}", form=form,
                           standard=standard, current=current, copied=copied)
