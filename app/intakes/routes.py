"""Pages for intakes: the list, adding one, an intake with its apprentices, and changing an intake."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import policy
from app.extensions import db
from app.forms import add_service_error
from app.intakes.forms import IntakeForm
from app.models import Intake, Person
from app.services import ServiceError, cohort_review, intakes

bp = Blueprint("intakes", __name__)
manage = policy.requires(policy.can_manage_apprenticeships)
PAGE_SIZE = 25


def _intake_or_404(intake_id: int) -> Intake:
    """The intake, if the coordinator may see it (one they coordinate or with an apprentice of theirs)."""
    intake = cohort_review.visible_intake(current_user, intake_id)
    if intake is None:
        abort(404)
    return intake


def _coordinator_choices(form: IntakeForm, current: Person | None = None) -> dict[int, Person]:
    people = intakes.possible_coordinators(current)
    form.coordinator.choices = {"": "Select the coordinator"} | {
        str(p.id): f"{p.name}, {p.organisation.name}" for p in people}
    return {p.id: p for p in people}


@bp.get("/intakes")
@manage
def index():
    scope = policy.apprenticeship_scope_filter(current_user)
    page = db.paginate(intakes.intakes_query(current_user), page=request.args.get("page", 1, type=int),
                       per_page=PAGE_SIZE, error_out=False)
    return render_template("intakes/index.html", title="Intakes", page=page, scoped=scope is not None,
                           listings=intakes.intake_listings(list(page.items), scope))


@bp.route("/intakes/new", methods=["GET", "POST"])
@manage
def new():
    form = IntakeForm()
    people = _coordinator_choices(form)
    if request.method == "GET" and current_user.id in people:
        form.coordinator.data = str(current_user.id)
    if form.validate_on_submit():
        try:
            intake = intakes.create_intake(current_user, form.name.data, form.starts_on.data,
                                           people.get(form.coordinator_id))
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "name")
        else:
            db.session.commit()
            flash(f"The intake {intake.name} has been added.", "success")
            return redirect(url_for("intakes.show", intake_id=intake.id))
    return render_template("intakes/form.html", title="Add an intake", form=form, intake=None)


@bp.get("/intakes/<int:intake_id>")
@manage
def show(intake_id: int):
    intake = _intake_or_404(intake_id)
    scope = policy.apprenticeship_scope_filter(current_user)
    apprenticeships = intakes.intake_apprenticeships(intake, scope)
    return render_template("intakes/show.html", title=f"Intake: {intake.name}", intake=intake,
                           apprenticeships=apprenticeships, scoped=scope is not None)


@bp.route("/intakes/<int:intake_id>/edit", methods=["GET", "POST"])
@manage
def edit(intake_id: int):
    intake = _intake_or_404(intake_id)
    if not policy.can_change_intake(current_user, intake):
        abort(403)
    form = IntakeForm()
    form.submit.label.text = "Save changes"
    people = _coordinator_choices(form, intake.coordinator)
    if request.method == "GET":
        form.name.data, form.starts_on.data = intake.name, intake.starts_on
        form.coordinator.data = str(intake.coordinator_id)
    if form.validate_on_submit():
        try:
            intakes.update_intake(current_user, intake, name=form.name.data, starts_on=form.starts_on.data,
                                  coordinator=people.get(form.coordinator_id))
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "name")
        else:
            db.session.commit()
            flash(f"The intake {intake.name} has been saved.", "success")
            return redirect(url_for("intakes.show", intake_id=intake.id))
    return render_template("intakes/form.html", title=f"Change the intake {intake.name}", form=form, intake=intake)
