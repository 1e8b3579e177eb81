"""An apprentice's placements: the timeline, adding and changing placements (coordinators), and the supervisor's
feedback at the end of a placement."""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app import policy
from app.apprenticeships import apprenticeship_or_404, bp, record_tabs
from app.apprenticeships.placement_forms import FeedbackForm, PlacementForm
from app.extensions import db
from app.forms import add_service_error
from app.models import Apprenticeship, Organisation, Person, Placement, Role, RoleGrant, Team
from app.services import ServiceError, clock
from app.services import placements as placing


def _placement_or_404(apprenticeship: Apprenticeship, placement_id: int) -> Placement:
    placement = next((p for p in apprenticeship.placements if p.id == placement_id), None)
    if placement is None:
        abort(404)
    return placement


@bp.get("/apprenticeships/<int:apprenticeship_id>/placements")
@policy.signed_in
def placements(apprenticeship_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    today = clock.today()
    listed = placing.placements_of(apprenticeship)
    segments = placing.timeline(apprenticeship, as_of=today)
    return render_template(
        "apprenticeships/placements.html", title=f"Placements – {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, tabs=record_tabs(apprenticeship, "placements"), heading="Placements",
        placements=listed, numbers={p.id: n for n, p in enumerate(listed, start=1)},
        gaps=placing.gaps(segments), chart=_chart(apprenticeship, segments, listed, today), today=today,
        can_edit=policy.can_edit_apprenticeship(current_user, apprenticeship),
        has_ended=apprenticeship.status in placing.ENDED,
        may_give_feedback={p.id for p in listed if placing.may_record_feedback(current_user, p)
                           and placing.feedback_open(p, today)},
        states={p.id: _state(p, today) for p in listed})


def _state(placement: Placement, today: date) -> str:
    if placement.ends_on < today:
        return "Past"
    return "Upcoming" if placement.starts_on > today else "Current"


def _fill_choices(form: PlacementForm, apprenticeship: Apprenticeship, placement: Placement | None) -> None:
    teams = db.session.scalars(
        select(Team).join(Organisation).options(joinedload(Team.organisation))
        .where((Organisation.active.is_(True)) | (Team.id == (placement.team_id if placement else -1)))
        .order_by(Organisation.name, Team.name)
    ).all()
    form.team.choices = {"": "Select a team"} | {str(t.id): f"{t.organisation.name} – {t.name}" for t in teams}
    supervisors = db.session.scalars(
        select(Person).join(RoleGrant).options(joinedload(Person.organisation))
        .where(RoleGrant.role == Role.SUPERVISOR)
        .where((Person.active.is_(True)) | (Person.id == (placement.supervisor_id if placement else -1)))
        .order_by(Person.name, Person.id)
    ).unique().all()
    form.supervisor.choices = {"": "Select a supervisor"} | {
        str(p.id): f"{p.name} – {p.organisation.name}{'' if p.active else ' (deactivated)'}" for p in supervisors}
    form.ksb_ids.choices = {str(k.id): f"{k.code}: {k.title}" for k in apprenticeship.standard_version.ksbs}


def _fields(form: PlacementForm) -> dict:
    team_id, supervisor_id = form.as_id(form.team.data), form.as_id(form.supervisor.data)
    return {
        "team": db.session.get(Team, team_id) if team_id else None,
        "supervisor": db.session.get(Person, supervisor_id) if supervisor_id else None,
        "starts_on": form.starts_on.data, "ends_on": form.ends_on.data, "objectives": form.objectives.data,
        "ksb_ids": [int(value) for value in form.ksb_ids.data or []],
    }


def _form_page(apprenticeship: Apprenticeship, form: PlacementForm, placement: Placement | None):
    heading = "Change a placement" if placement else "Add a placement"
    return render_template("apprenticeships/placement_form.html",
                           title=f"{heading} – {apprenticeship.apprentice.name}", apprenticeship=apprenticeship,
                           form=form, placement=placement, heading=heading,
                           apprenticeship_end=placing.apprenticeship_end(apprenticeship))


@bp.route("/apprenticeships/<int:apprenticeship_id>/placements/new", methods=["GET", "POST"])
@policy.signed_in
def new_placement(apprenticeship_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id, edit=True)
    form = PlacementForm()
    _fill_choices(form, apprenticeship, None)
    if form.validate_on_submit():
        try:
            placement = placing.add_placement(current_user, apprenticeship, **_fields(form))
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "team")
        else:
            db.session.commit()
            flash(f"{apprenticeship.apprentice.name} has been placed with {placing.describe(placement)}.", "success")
            return redirect(url_for("apprenticeships.placements", apprenticeship_id=apprenticeship.id))
    return _form_page(apprenticeship, form, None)


@bp.route("/apprenticeships/<int:apprenticeship_id>/placements/<int:placement_id>/edit", methods=["GET", "POST"])
@policy.signed_in
def edit_placement(apprenticeship_id: int, placement_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id, edit=True)
    placement = _placement_or_404(apprenticeship, placement_id)
    form = PlacementForm(data=None if request.method == "POST" else {
        "team": str(placement.team_id), "supervisor": str(placement.supervisor_id),
        "starts_on": placement.starts_on, "ends_on": placement.ends_on, "objectives": placement.objectives,
        "ksb_ids": [str(k.id) for k in placement.ksbs]})
    form.submit.label.text = "Save changes"
    _fill_choices(form, apprenticeship, placement)
    if form.validate_on_submit():
        try:
            placing.update_placement(current_user, placement, **_fields(form))
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "team")
        else:
            db.session.commit()
            flash(f"The placement has been changed: {placing.describe(placement)}.", "success")
            return redirect(url_for("apprenticeships.placements", apprenticeship_id=apprenticeship.id))
    return _form_page(apprenticeship, form, placement)


@bp.route("/apprenticeships/<int:apprenticeship_id>/placements/<int:placement_id>/feedback", methods=["GET", "POST"])
@policy.signed_in
def placement_feedback(apprenticeship_id: int, placement_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    placement = _placement_or_404(apprenticeship, placement_id)
    if not placing.may_record_feedback(current_user, placement):
        abort(403)
    form = FeedbackForm(data=None if request.method == "POST" else {"feedback": placement.supervisor_feedback})
    if form.validate_on_submit():
        try:
            placing.record_feedback(current_user, placement, form.feedback.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "feedback")
        else:
            db.session.commit()
            flash(f"Your feedback on the placement with {placement.team.name} at {placement.host_organisation.name} "
                  "has been saved.", "success")
            return redirect(url_for("apprenticeships.placements", apprenticeship_id=apprenticeship.id))
    return render_template("apprenticeships/placement_feedback.html",
                           title=f"Feedback on a placement – {apprenticeship.apprentice.name}",
                           apprenticeship=apprenticeship, placement=placement, form=form,
                           opens_on=placing.feedback_opens_on(placement),
                           is_open=placing.feedback_open(placement))


# The timeline drawn as SVG --------------------------------------------------------------------------------------

CHART_WIDTH, CHART_LEFT, CHART_RIGHT = 960, 8, 952
BAR_TOP, BAR_HEIGHT, AXIS_Y = 26, 60, 98
PLACEMENT_FILLS = ("#1d70b8", "#003078")
CHARACTER_WIDTH = 7.6  # roughly, at font-size 14
BOROUGH_PREFIXES = ("London Borough of ", "Royal Borough of ")


def _short(text: str, room: float) -> str | None:
    characters = int(room / CHARACTER_WIDTH)
    if characters < 3:
        return None
    return text if len(text) <= characters else text[: characters - 1].rstrip() + "…"


def _short_name(organisation: Organisation) -> str:
    name = organisation.name
    for prefix in BOROUGH_PREFIXES:
        name = name.removeprefix(prefix)
    return name


def _month_starts(first: date, last: date):
    month = date(first.year, first.month, 1)
    while month <= last:
        if month >= first:
            yield month
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _chart(apprenticeship: Apprenticeship, segments, listed: list[Placement], today: date) -> dict:
    """The geometry of the timeline: one bar per placement or gap, month ticks, and today's marker; with a text
    description of the same for screen readers."""
    first, last = apprenticeship.starts_on, placing.apprenticeship_end(apprenticeship)
    total = (last - first).days + 1
    numbers = {p.id: n for n, p in enumerate(listed, start=1)}

    def x(day: date) -> float:
        return round(CHART_LEFT + (day - first).days / total * (CHART_RIGHT - CHART_LEFT), 1)

    bars, described = [], []
    for segment in segments:
        left, width = x(segment.starts_on), x(segment.ends_on + timedelta(days=1)) - x(segment.starts_on)
        fill = None
        if segment.is_gap:
            lines = ["No placement", f"{segment.days} day{'s' if segment.days != 1 else ''}"]
            described.append(f"No placement from {segment.starts_on:%-d %B %Y} to {segment.ends_on:%-d %B %Y} "
                             f"({segment.days} day{'s' if segment.days != 1 else ''}).")
        else:
            p, number = segment.placement, numbers.get(segment.placement.id, 1)
            fill = PLACEMENT_FILLS[(number - 1) % len(PLACEMENT_FILLS)]
            lines = [f"{number}. {_short_name(p.host_organisation)}", p.team.name]
            described.append(f"Placement {number}: {p.team.name} at {p.host_organisation.name}, supervised by "
                             f"{p.supervisor.name}, from {p.starts_on:%-d %B %Y} to {p.ends_on:%-d %B %Y} "
                             f"({segment.state}).")
        shown = [_short(line, width - 12) for line in lines]
        bars.append({"x": left, "width": max(width, 1), "gap": segment.is_gap, "fill": fill,
                     "lines": [line for line in shown if line]})
    months = (last.year - first.year) * 12 + last.month - first.month
    step = 1 if months <= 8 else 3 if months <= 36 else 6
    ticks = [{"x": x(m), "label": f"{m:%b %Y}" if (m.month - 1) % step == 0 and 30 < x(m) < CHART_WIDTH - 30
              else None} for m in _month_starts(first, last)]
    marker = None
    if first <= today <= last:
        marker = {"x": x(today), "label_x": min(max(x(today), 24), CHART_WIDTH - 24)}
    return {
        "width": CHART_WIDTH, "height": 150, "left": CHART_LEFT, "right": CHART_RIGHT, "bar_top": BAR_TOP,
        "bar_height": BAR_HEIGHT, "axis_y": AXIS_Y, "bars": bars, "ticks": ticks, "today": marker,
        "first": first, "last": last,
        "description": " ".join([f"The apprenticeship runs from {first:%-d %B %Y} to {last:%-d %B %Y}.", *described,
                                 f"Today is {today:%-d %B %Y}." if marker else ""]).strip(),
    }
