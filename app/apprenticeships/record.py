"""The apprenticeship record: the list coordinators work from, adding and correcting a record, its overview,
its lifecycle, and the apprentice's way in to their own."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import charts, policy
from app.apprenticeships import apprenticeship_or_404, bp, record_or_404, record_tabs
from app.apprenticeships.record_forms import TRANSITION_TEXT, ApprenticeshipEditForm, ApprenticeshipForm, StatusForm
from app.extensions import db
from app.forms import add_service_error
from app.models import Apprenticeship, ApprenticeshipStatus
from app.services import ServiceError, apprenticeships, clock, otj_totals
from app.services.apprenticeship_rules import RULE_SETS_BY_KEY
from app.services.people import manageable_organisations

manage = policy.requires(policy.can_manage_apprenticeships)
STATUS_VALUES = {s.value for s in ApprenticeshipStatus}


@bp.get("/apprenticeships")
@manage
def index():
    status = request.args.get("status", "")
    filters = {
        "search": request.args.get("q", "").strip()[:200],
        "status": ApprenticeshipStatus(status) if status in STATUS_VALUES else None,
        "intake_id": request.args.get("intake", type=int),
        "standard_id": request.args.get("standard", type=int),
        "organisation_id": request.args.get("employer", type=int),
    }
    page = apprenticeships.apprenticeship_list(current_user, **filters, page=request.args.get("page", 1, type=int))
    page_args = {"q": filters["search"], "status": status if filters["status"] else "",
                 "intake": filters["intake_id"] or "", "standard": filters["standard_id"] or "",
                 "employer": filters["organisation_id"] or ""}
    return render_template(
        "apprenticeships/index.html", title="Apprenticeships", page=page, filters=filters, page_args=page_args,
        approved=otj_totals.approved_hours_by_apprenticeship(a.id for a in page.items),
        statuses=list(ApprenticeshipStatus), intakes=apprenticeships.intakes(), standards=apprenticeships.standards(),
        organisations=manageable_organisations(current_user))


def _fill_record_choices(form) -> dict:
    organisations = manageable_organisations(current_user)
    intakes = apprenticeships.intakes()
    form.employer.choices = {"": "Select the employer"} | {str(o.id): o.name for o in organisations}
    form.intake.choices = {"": "No intake"} | {str(i.id): i.name for i in intakes}
    return {"employer": {o.id: o for o in organisations}, "intake": {i.id: i for i in intakes}}


@bp.route("/apprenticeships/new", methods=["GET", "POST"])
@manage
def new():
    form = ApprenticeshipForm()
    found = _fill_record_choices(form)
    apprentices = apprenticeships.apprentices_to_start(current_user)
    versions = apprenticeships.standard_versions()
    form.apprentice.choices = {"": "Select the apprentice"} | {str(p.id): f"{p.name} ({p.email})" for p in apprentices}
    form.standard_version.choices = {"": "Select the standard"} | {str(v.id): v.label for v in versions}
    if form.validate_on_submit():
        try:
            a = apprenticeships.create_apprenticeship(
                current_user,
                apprentice={p.id: p for p in apprentices}.get(form.as_id(form.apprentice.data)),
                standard_version={v.id: v for v in versions}.get(form.as_id(form.standard_version.data)),
                employer=found["employer"].get(form.as_id(form.employer.data)),
                intake=found["intake"].get(form.as_id(form.intake.data)),
                training_provider=form.training_provider.data, starts_on=form.starts_on.data,
                planned_end_on=form.planned_end_on.data, weekly_hours=form.weekly_hours.data,
                english_maths=form.english_maths.data, english_maths_note=form.english_maths_note.data,
                prior_learning_hours=form.prior_learning_hours.number or 0,
                otj_override_hours=form.otj_override_hours.number, otj_override_reason=form.otj_override_reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "apprentice")
        else:
            db.session.commit()
            flash(f"{a.apprentice.name}'s apprenticeship has been added, with {a.planned_otj_hours} planned "
                  f"off-the-job hours and {len(a.reviews)} progress reviews scheduled.", "success")
            return redirect(url_for("apprenticeships.show", apprenticeship_id=a.id))
    return render_template("apprenticeships/new.html", title="Add an apprenticeship", form=form,
                           no_apprentices=not apprentices)


@bp.get("/apprenticeships/<int:apprenticeship_id>")
@policy.signed_in
def show(apprenticeship_id: int):
    a = record_or_404(apprenticeship_id)
    today = clock.today()
    figures = otj_totals.figures(a, today)
    return render_template(
        "apprenticeships/show.html", title=f"{a.apprentice.name}: apprenticeship overview", apprenticeship=a,
        tabs=record_tabs(a, "overview"), heading="Overview", today=today,
        rule_set=RULE_SETS_BY_KEY[a.rule_set], minimum_end=apprenticeships.minimum_end(a),
        totals=figures.totals, placement=apprenticeships.current_placement(a, today),
        chart=charts.otj_cumulative_chart(figures.points, planned_hours=a.planned_otj_hours),
        next_review=a.next_review, history=apprenticeships.status_history(a.id),
        may_edit=policy.can_edit_apprenticeship(current_user, a))


@bp.route("/apprenticeships/<int:apprenticeship_id>/edit", methods=["GET", "POST"])
@policy.signed_in
def edit(apprenticeship_id: int):
    a = apprenticeship_or_404(apprenticeship_id, edit=True)
    form = ApprenticeshipEditForm()
    found = _fill_record_choices(form)
    # The current employer stays selectable even when it is outside the editor's organisations.
    form.employer.choices.setdefault(str(a.employer_id), a.employer.name)
    found["employer"].setdefault(a.employer_id, a.employer)
    if request.method == "GET":
        form.employer.data, form.intake.data = str(a.employer_id), str(a.intake_id or "")
        form.training_provider.data, form.weekly_hours.data = a.training_provider, f"{a.weekly_hours.normalize():f}"
        form.starts_on.data, form.planned_end_on.data = a.starts_on, a.planned_end_on
        form.prior_learning_hours.data = str(apprenticeships.recorded_prior_learning_hours(a))
        form.english_maths.data, form.english_maths_note.data = a.english_maths.value, a.english_maths_note
        form.planned_otj_hours.data = str(a.planned_otj_hours) if a.otj_override_reason else ""
    if form.validate_on_submit():
        try:
            apprenticeships.update_apprenticeship(
                current_user, a, employer=found["employer"].get(form.as_id(form.employer.data)),
                intake=found["intake"].get(form.as_id(form.intake.data)),
                training_provider=form.training_provider.data, starts_on=form.starts_on.data,
                planned_end_on=form.planned_end_on.data, weekly_hours=form.weekly_hours.data,
                prior_learning_hours=form.prior_learning_hours.number,
                english_maths=form.english_maths.data, english_maths_note=form.english_maths_note.data,
                planned_otj_hours=form.planned_otj_hours.number, otj_change_reason=form.otj_change_reason.data)
        except ServiceError as error:
            db.session.rollback()
            field = "starts_on" if error.field == "standard_version" else error.field
            add_service_error(form, ServiceError(error.message, field), "training_provider")
        else:
            db.session.commit()
            flash("The apprenticeship has been updated.", "success")
            return redirect(url_for("apprenticeships.show", apprenticeship_id=a.id))
    return render_template("apprenticeships/edit.html", title=f"Change {a.apprentice.name}'s apprenticeship",
                           form=form, apprenticeship=a, tabs=record_tabs(a, "overview"), heading="Change details",
                           rule_set=RULE_SETS_BY_KEY[a.rule_set])


def _status_choices(a: Apprenticeship) -> list[tuple[str, str, str]]:
    return [(s.value, *TRANSITION_TEXT[(a.status, s)]) for s in apprenticeships.allowed_transitions(a)]


@bp.route("/apprenticeships/<int:apprenticeship_id>/status", methods=["GET", "POST"])
@policy.signed_in
def change_status(apprenticeship_id: int):
    a = apprenticeship_or_404(apprenticeship_id, edit=True)
    form = StatusForm()
    choices = _status_choices(a)
    form.to_status.choices = [(value, text) for value, text, _hint in choices]
    form.grade.choices = {"": "Select the grade"} | {g: g.capitalize() for g in apprenticeships.passing_grades(a)}
    if request.method == "GET" and len(choices) == 1:
        form.to_status.data = choices[0][0]
    if choices and form.validate_on_submit():
        to_status = ApprenticeshipStatus(form.to_status.data)
        try:
            apprenticeships.change_status(current_user, a, to_status, effective_on=form.effective_on.data,
                                          reason=form.reason.data, grade=form.grade.data or None)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "to_status")
        else:
            db.session.commit()
            message = f"{a.apprentice.name}'s apprenticeship is now {a.status.label.lower()}."
            if a.status is ApprenticeshipStatus.WITHDRAWN:
                message += f" Actual end date: {a.actual_end_on:%-d %B %Y}, the last evidenced learning."
            elif to_status is ApprenticeshipStatus.ACTIVE and a.breaks and a.breaks[-1].ends_on:
                message += f" The planned end date is now {a.planned_end_on:%-d %B %Y}."
            flash(message, "success")
            return redirect(url_for("apprenticeships.show", apprenticeship_id=a.id))
    return render_template(
        "apprenticeships/status.html", title=f"Change the status of {a.apprentice.name}'s apprenticeship",
        form=form, apprenticeship=a, tabs=record_tabs(a, "overview"), heading="Change status",
        hints=[{"hint": {"text": hint}} for _value, _text, hint in choices],
        completing=ApprenticeshipStatus.COMPLETED in apprenticeships.allowed_transitions(a),
        closed_reason=None if choices else apprenticeships.refusal(a, ApprenticeshipStatus.ACTIVE))


@bp.get("/my-apprenticeship")
@policy.signed_in
def mine():
    current = apprenticeships.current_apprenticeship(current_user)
    if current is not None:
        return redirect(url_for("apprenticeships.show", apprenticeship_id=current.id))
    return render_template("apprenticeships/none.html", title="You do not have an apprenticeship yet")
