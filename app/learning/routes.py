"""Leaders' side of courses: the catalogue, a course and its runs, enrolling, lessons and knowledge checks."""

from __future__ import annotations

import functools
import secrets

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.forms import add_service_error
from app.learning.forms import WithdrawForm
from app.models import Course, CourseRun, Enrolment, Lesson, LiveSession
from app.policy import signed_in
from app.services import ServiceError, calendar, catalogue, clock, cpd_record, learning
from app.services import enrolment as enrolments

bp = Blueprint("learning", __name__)


@functools.cache
def _enrolment_query(with_outline: bool):
    """An enrolment (``:enrolment_id``) with its run and course and, ``with_outline``, the course's lessons
    (their bodies left out: the lesson page reads the one it shows) and checks. Built once per kind."""
    course = joinedload(Enrolment.run).joinedload(CourseRun.course)
    options = [course]
    if with_outline:
        options += [course.selectinload(Course.lessons).defer(Lesson.body_html), course.selectinload(Course.checks)]
    return select(Enrolment).where(Enrolment.id == bindparam("enrolment_id")).options(*options)


def _own_enrolment(enrolment_id: int, *, with_outline: bool = True) -> Enrolment:
    """The signed-in person's own enrolment, with its run and course (and outline); anyone else's is not
    found."""
    found = db.session.scalar(_enrolment_query(with_outline), {"enrolment_id": enrolment_id})
    if found is None or found.person_id != current_user.id:
        abort(404)
    return found


def _learning_enrolment(enrolment_id: int, *, with_outline: bool = True) -> Enrolment:
    found = _own_enrolment(enrolment_id, with_outline=with_outline)
    if found.status not in learning.LEARNING_STATUSES:
        abort(403)
    return found


@bp.get("/courses")
@signed_in
def courses():
    return render_template("learning/catalogue.html", title="Leadership courses", courses=catalogue.catalogue(),
                           today=clock.today())


@bp.get("/courses/<slug>")
@signed_in
def course(slug: str):
    found = catalogue.course_by_slug(slug) or abort(404)
    return render_template("learning/course.html", title=found.title, course=found,
                           offers=catalogue.run_offers(found, current_user, clock.today()),
                           outline=learning.outline(found), form=FlaskForm())


def _calendar_response(content: bytes, name: str) -> Response:
    return Response(content, mimetype="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="{calendar.filename(name)}.ics"'})


@bp.get("/courses/<slug>/runs/<int:run_id>/calendar.ics")
@signed_in
def run_calendar(slug: str, run_id: int):
    """A run's dates for anyone the course page shows the run to, so they can plan before enrolling; the join
    links of its live sessions only for people with a place."""
    found = catalogue.course_by_slug(slug) or abort(404)
    run = catalogue.offered_run(found, current_user, run_id, clock.today()) or abort(404)
    content = calendar.run_calendar(run, join_links=calendar.may_download(current_user, run)) or abort(404)
    return _calendar_response(content, f"{found.title} {run.name}")


@bp.get("/courses/<slug>/live-sessions/<int:session_id>/calendar.ics")
@signed_in
def session_calendar(slug: str, session_id: int):
    found = catalogue.course_by_slug(slug) or abort(404)
    session = db.session.get(LiveSession, session_id) or abort(404)
    run = catalogue.offered_run(found, current_user, session.run_id, clock.today()) or abort(404)
    content = calendar.session_calendar(session, join_links=calendar.may_download(current_user, run))
    return _calendar_response(content, f"{session.title} {session.starts_at:%Y-%m-%d}")


def _own_cpd_record() -> cpd_record.CpdRecord:
    """The signed-in person's own CPD record, for one year (``?year=2026``) or every year: no one else's."""
    asked = request.args.get("year")
    year = None
    if asked is not None:
        year = cpd_record.year_from(asked) or abort(404)
    return cpd_record.record_of(current_user, clock.today(), year)


def _download(content: str | bytes, mimetype: str, filename: str) -> Response:
    return Response(content, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/learning/cpd-record.csv")
@signed_in
def cpd_record_csv():
    record = _own_cpd_record()
    return _download(cpd_record.to_csv(record), "text/csv", record.filename("csv"))


@bp.get("/learning/cpd-record.pdf")
@signed_in
def cpd_record_pdf():
    record = _own_cpd_record()
    return _download(cpd_record.to_pdf(record), "application/pdf", record.filename("pdf"))


@bp.post("/courses/<slug>/runs/<int:run_id>/enrol")
@signed_in
def enrol(slug: str, run_id: int):
    found = catalogue.course_by_slug(slug) or abort(404)
    run = next((r for r in found.runs if r.id == run_id), None) or abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        enrolment = enrolments.enrol(current_user, current_user, run)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("learning.course", slug=slug))
    db.session.commit()
    if enrolment.status.value == "waitlisted":
        flash(f"{run.name} is full, so you are on its waitlist. We will email you if a place comes free.", "success")
        return redirect(url_for("learning.course", slug=slug))
    flash(f"You are enrolled on {found.title} ({run.name}).", "success")
    return redirect(url_for("learning.enrolment", enrolment_id=enrolment.id))


@bp.get("/learning/<int:enrolment_id>")
@signed_in
def enrolment(enrolment_id: int):
    found = _own_enrolment(enrolment_id)
    progress = learning.progress(found) if found.status in learning.LEARNING_STATUSES else None
    return render_template("learning/enrolment.html", title=found.run.course.title, enrolment=found,
                           progress=progress)


@bp.route("/learning/<int:enrolment_id>/withdraw", methods=["GET", "POST"])
@signed_in
def withdraw(enrolment_id: int):
    found = _own_enrolment(enrolment_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            enrolments.withdraw(current_user, found, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "reason")
        else:
            db.session.commit()
            flash(f"You have withdrawn from {found.run.course.title}. Your progress is kept.", "success")
            return redirect(url_for("main.home"))
    return render_template("learning/withdraw.html", title=f"Withdraw from {found.run.course.title}", form=form,
                           enrolment=found)


def _neighbours(items: list[learning.OutlineItem], kind: str, key: str):
    index = next((i for i, item in enumerate(items) if item.kind == kind and item.key == key), None)
    if index is None:
        abort(404)
    previous = items[index - 1] if index > 0 else None
    following = items[index + 1] if index + 1 < len(items) else None
    return index, previous, following


@bp.get("/learning/<int:enrolment_id>/lessons/<key>")
@signed_in
def lesson(enrolment_id: int, key: str):
    found = _learning_enrolment(enrolment_id, with_outline=False)
    items = learning.steps(found.run.course_id, body_of=key)
    index, previous, following = _neighbours(items, "lesson", key)
    progress = learning.open_lesson(found, items, index)
    db.session.commit()
    return render_template("learning/lesson.html", title=items[index].title, enrolment=found, item=items[index],
                           previous=previous, following=following, position=index + 1, total=len(items),
                           progress=progress)


@bp.route("/learning/<int:enrolment_id>/checks/<key>", methods=["GET", "POST"])
@signed_in
def check(enrolment_id: int, key: str):
    found = _learning_enrolment(enrolment_id)
    items = learning.outline(found.run.course)
    index, previous, following = _neighbours(items, "check", key)
    knowledge_check = items[index].item
    form = FlaskForm()
    attempt = None
    error_message = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        answers = {name[2:]: request.form.getlist(name) for name in request.form if name.startswith("q-")}
        try:
            attempt = learning.submit_check(found, knowledge_check, answers,
                                            request.form.get("submission", "") or secrets.token_hex(16))
        except ServiceError as error:
            db.session.rollback()
            if error.field:
                errors = {q["id"]: error.message for q in knowledge_check.questions
                          if not request.form.getlist(f"q-{q['id']}") or q["id"] == error.field}
            else:
                error_message = error.message
        else:
            db.session.commit()
    progress = learning.progress(found)
    return render_template(
        "learning/check.html", title=knowledge_check.title, enrolment=found, check=knowledge_check, attempt=attempt,
        form=form,
        errors=errors, error_message=error_message, chosen={k[2:]: request.form.getlist(k) for k in request.form},
        submission=secrets.token_hex(16), previous=previous, following=following, position=index + 1,
        total=len(items), progress=progress, item=items[index],
        results={q["id"]: learning.is_correct(q, set(attempt.answers.get(q["id"], [])))
                 for q in knowledge_check.questions} if attempt else {},
    )
