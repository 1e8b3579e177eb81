"""Course runs for coordinators and admins: add runs and live sessions, see and export a run's roster,
enrol people one at a time or from a CSV file, withdraw them; and calendar files for the people on a run."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import policy
from app.extensions import db
from app.forms import add_service_error
from app.models import Course, CourseRun, EnrolmentStatus, LiveSession, RunKind
from app.models.types import utcnow
from app.runs.forms import (
    EnrolForm,
    ImportConfirmForm,
    ImportUploadForm,
    LiveSessionForm,
    RunForm,
    WithdrawForm,
)
from app.services import ServiceError, calendar, clock, enrolment_import, roster, runs

bp = Blueprint("runs", __name__)
manage = policy.requires(policy.can_manage_runs)
RUNS_PAGE_SIZE = 25
# The form field that shows a problem the live-session service names.
SESSION_FIELDS = {"starts_at": "start_time", "ends_at": "end_time"}


def _run_or_404(run_id: int) -> CourseRun:
    run = db.session.get(CourseRun, run_id)
    if run is None:
        abort(404)
    return run


def _calendar_response(content: bytes, name: str) -> Response:
    return Response(content, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="{calendar.filename(name)}.ics"'})


@bp.get("/runs")
@manage
def index():
    page = db.paginate(roster.runs_query(), page=request.args.get("page", 1, type=int), per_page=RUNS_PAGE_SIZE,
                       error_out=False)
    courses = db.session.scalars(select(Course).where(Course.retired_at.is_(None)).order_by(Course.title)).all()
    return render_template("runs/index.html", title="Course runs", page=page,
                           listings=roster.listings(list(page.items)), courses=courses)


@bp.route("/courses/<slug>/runs/new", methods=["GET", "POST"])
@manage
def new(slug: str):
    course = db.session.scalar(select(Course).where(Course.slug == slug))
    if course is None:
        abort(404)
    form = RunForm()
    if request.method == "GET":
        form.kind.data = RunKind.SCHEDULED.value
    if form.validate_on_submit():
        try:
            run = runs.create_run(current_user, course, kind=RunKind(form.kind.data), name=form.name.data,
                                  starts_on=form.starts_on.data, ends_on=form.ends_on.data,
                                  enrolment_deadline=form.enrolment_deadline.data, capacity=form.capacity.number)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "name")
        else:
            db.session.commit()
            flash(f"{run.name} of {course.title} has been added.", "success")
            return redirect(url_for("runs.show", run_id=run.id))
    return render_template("runs/new.html", title=f"Add a run of {course.title}", form=form, course=course)


def _roster_page(run: CourseRun, *, enrol_form: EnrolForm | None = None,
                 session_form: LiveSessionForm | None = None, failed=None, status: int = 200):
    filters = roster.RosterFilter.from_args(request.args)
    page, rows = roster.roster_page(current_user, run, filters, request.args.get("page", 1, type=int))
    return render_template(
        "runs/show.html", title=f"{run.course.title}: {run.name}", run=run, page=page, rows=rows,
        filters=filters, statuses=list(EnrolmentStatus), summary=roster.summary(current_user, run),
        organisations=roster.organisations_on_roster(current_user, run),
        closed_reason=runs.enrolment_closed_reason(run, clock.today()),
        enrol_form=enrol_form or EnrolForm(formdata=None), session_form=session_form or LiveSessionForm(formdata=None),
        form=failed, page_args={"run_id": run.id, **filters.as_args()},
    ), status


@bp.get("/runs/<int:run_id>")
@manage
def show(run_id: int):
    return _roster_page(_run_or_404(run_id))


@bp.get("/runs/<int:run_id>/roster.csv")
@manage
def roster_csv(run_id: int):
    run = _run_or_404(run_id)
    filters = roster.RosterFilter.from_args(request.args)
    now = utcnow()
    content = roster.roster_csv(roster.all_rows(current_user, run, filters), now)
    name = calendar.filename(f"{run.course.slug}-{run.name}-roster-{now:%Y-%m-%d}")
    return Response(content, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@bp.post("/runs/<int:run_id>/enrolments")
@manage
def enrol(run_id: int):
    run = _run_or_404(run_id)
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            enrolment = roster.enrol_by_email(current_user, run, form.email.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "email")
        else:
            db.session.commit()
            person = enrolment.person
            if enrolment.status is EnrolmentStatus.WAITLISTED:
                flash(f"The run is full, so {person.name} has been put on the waitlist. They will get a place "
                      "when one comes free.", "success")
            else:
                flash(f"{person.name} has been enrolled.", "success")
            return redirect(url_for("runs.show", run_id=run.id))
    return _roster_page(run, enrol_form=form, failed=form, status=400)


@bp.post("/runs/<int:run_id>/live-sessions")
@manage
def add_live_session(run_id: int):
    run = _run_or_404(run_id)
    if not policy.can_change_run(current_user, run):
        abort(403)
    form = LiveSessionForm()
    if form.validate_on_submit():
        try:
            session = runs.add_live_session(
                current_user, run, title=form.title.data,
                starts_at=calendar.london_to_utc(form.day.data, form.start_time.parsed),
                ends_at=calendar.london_to_utc(form.day.data, form.end_time.parsed),
                location=form.location.data, online_url=form.online_url.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, ServiceError(error.message, SESSION_FIELDS.get(error.field, error.field)), "title")
        else:
            db.session.commit()
            flash(f"The live session {session.title} has been added.", "success")
            return redirect(url_for("runs.show", run_id=run.id) + "#live-sessions")
    return _roster_page(run, session_form=form, failed=form, status=400)


@bp.route("/runs/<int:run_id>/enrolments/import", methods=["GET", "POST"])
@manage
def import_upload(run_id: int):
    run = _run_or_404(run_id)
    form = ImportUploadForm()
    if form.validate_on_submit():
        try:
            text = enrolment_import.decode(form.file.data.read())
        except ServiceError as error:
            add_service_error(form, error, "file")
        else:
            check = enrolment_import.check_import(current_user, run, text)
            return render_template("runs/import_preview.html", title="Check the people to enrol", run=run,
                                   check=check, confirm_form=ImportConfirmForm(formdata=None, content=text))
    return render_template("runs/import.html", title=f"Enrol people on {run.name} from a CSV file", form=form,
                           run=run)


@bp.post("/runs/<int:run_id>/enrolments/import/confirm")
@manage
def import_confirm(run_id: int):
    run = _run_or_404(run_id)
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    text = form.content.data or ""
    try:
        enrolments = enrolment_import.import_enrolments(current_user, run, text)
    except ServiceError:
        db.session.rollback()
        check = enrolment_import.check_import(current_user, run, text)
        return render_template("runs/import_preview.html", title="Check the people to enrol", run=run, check=check,
                               confirm_form=ImportConfirmForm(formdata=None, content=text)), 400
    db.session.commit()
    flash(enrolment_import.outcome(enrolments), "success")
    return redirect(url_for("runs.show", run_id=run.id))


@bp.route("/runs/<int:run_id>/enrolments/<int:enrolment_id>/withdraw", methods=["GET", "POST"])
@manage
def withdraw(run_id: int, enrolment_id: int):
    run = _run_or_404(run_id)
    enrolment = roster.visible_enrolment(current_user, run, enrolment_id)
    if enrolment is None:
        abort(404)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            promoted = roster.withdraw(current_user, enrolment, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "reason")
        else:
            db.session.commit()
            message = f"{enrolment.person.name} has been withdrawn."
            if promoted:
                names = ", ".join(e.person.name for e in promoted)
                message += f" {names} {'has' if len(promoted) == 1 else 'have'} been given a place from the " \
                           "waitlist and will get an email shortly."
            flash(message, "success")
            return redirect(url_for("runs.show", run_id=run.id))
    return render_template("runs/withdraw.html", title=f"Withdraw {enrolment.person.name}", form=form, run=run,
                           enrolment=enrolment)


@bp.get("/runs/<int:run_id>/calendar.ics")
@policy.signed_in
def run_calendar(run_id: int):
    run = db.session.get(CourseRun, run_id)
    if run is None or not calendar.may_download(current_user, run):
        abort(404)
    content = calendar.run_calendar(run)
    if content is None:
        abort(404)
    return _calendar_response(content, f"{run.course.title} {run.name}")


@bp.get("/live-sessions/<int:session_id>/calendar.ics")
@policy.signed_in
def session_calendar(session_id: int):
    session = db.session.get(LiveSession, session_id)
    if session is None or not calendar.may_download(current_user, session.run):
        abort(404)
    return _calendar_response(calendar.session_calendar(session), f"{session.title} {session.starts_at:%Y-%m-%d}")
