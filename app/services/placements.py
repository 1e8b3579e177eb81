"""Placements across boroughs: an apprentice works with a host team (in any borough or partner body) under a
supervisor, one placement at a time, inside the apprenticeship's dates, within the team's apprentice capacity.

Also the apprentice's timeline (placements and the gaps between them), a team's occupancy, and the
apprentices a supervisor has had placed with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app import policy
from app.extensions import db
from app.models import Apprenticeship, ApprenticeshipStatus, Ksb, Person, Placement, Role, StandardVersion, Team
from app.models.types import utcnow
from app.services import ServiceError, audit, clock, review_rows

# The supervisor's feedback is written at the end of a placement: from this many days before it ends.
FEEDBACK_OPENS_DAYS_BEFORE_END = 14
OBJECTIVES_MAX = 2000
FEEDBACK_MAX = 5000
ENDED = (ApprenticeshipStatus.WITHDRAWN, ApprenticeshipStatus.COMPLETED)


def _day(value: date) -> str:
    return value.strftime("%-d %B %Y")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def apprenticeship_end(apprenticeship: Apprenticeship) -> date:
    """The last day of the apprenticeship: its actual end once known, otherwise the planned end."""
    return apprenticeship.actual_end_on or apprenticeship.planned_end_on


def describe(placement: Placement) -> str:
    """"Digital services at London Borough of Hackney from 1 September 2025 to 28 February 2026"."""
    return (f"{placement.team.name} at {placement.host_organisation.name} "
            f"from {_day(placement.starts_on)} to {_day(placement.ends_on)}")


# Occupancy of a team -------------------------------------------------------------------------


@dataclass(frozen=True)
class OccupancyPeriod:
    """Days from ``starts_on`` to ``ends_on`` (inclusive) on which ``apprentices`` are placed in a team."""

    starts_on: date
    ends_on: date
    apprentices: int


def team_occupancy(team: Team, starts_on: date, ends_on: date, *,
                   excluding_apprenticeship_id: int | None = None) -> list[OccupancyPeriod]:
    """How many apprentices are placed in ``team`` on each day from ``starts_on`` to ``ends_on``, as
    consecutive periods covering the whole range. A placement stops counting once its apprenticeship
    has actually ended (a withdrawal, say)."""
    rows = db.session.execute(
        select(Placement.starts_on, Placement.ends_on, Apprenticeship.actual_end_on)
        .join(Apprenticeship, Apprenticeship.id == Placement.apprenticeship_id)
        .where(Placement.team_id == team.id, Placement.starts_on <= ends_on, Placement.ends_on >= starts_on)
        .where(Placement.apprenticeship_id != (excluding_apprenticeship_id or -1))
    ).all()
    spans = []
    for placed_from, placed_to, actual_end in rows:
        last = min(placed_to, actual_end) if actual_end else placed_to
        first, last = max(placed_from, starts_on), min(last, ends_on)
        if first <= last:
            spans.append((first, last))
    # The count changes only where a placement starts or the day after one ends.
    boundaries = sorted({starts_on, ends_on + timedelta(days=1)}
                        | {s for s, _ in spans} | {e + timedelta(days=1) for _, e in spans})
    periods: list[OccupancyPeriod] = []
    for first, after in pairwise(boundaries):
        count = sum(1 for s, e in spans if s <= first <= e)
        last = after - timedelta(days=1)
        if periods and periods[-1].apprentices == count:
            periods[-1] = OccupancyPeriod(periods[-1].starts_on, last, count)
        else:
            periods.append(OccupancyPeriod(first, last, count))
    return periods


def _check_capacity(team: Team, starts_on: date, ends_on: date, apprenticeship: Apprenticeship) -> None:
    capacity = team.apprentice_capacity
    if capacity is None:
        return
    where = f"{team.name} at {team.organisation.name}"
    if capacity == 0:
        raise ServiceError(f"{where} is not taking apprentices (its capacity is 0)", field="team")
    full = [p for p in team_occupancy(team, starts_on, ends_on, excluding_apprenticeship_id=apprenticeship.id)
            if p.apprentices >= capacity]
    if full:
        when = " and ".join(f"from {_day(p.starts_on)} to {_day(p.ends_on)}" for p in full[:3])
        more = f" (and {_plural(len(full) - 3, 'other period')})" if len(full) > 3 else ""
        raise ServiceError(f"{where} can host {_plural(capacity, 'apprentice')} at a time and is full {when}{more}. "
                           "Choose other dates or another team", field="team")


# Adding and changing placements ----------------------------------------------------------------


def _check(actor: Person | None, apprenticeship: Apprenticeship, *, team: Team | None, supervisor: Person | None,
           starts_on: date | None, ends_on: date | None, objectives: str, ksb_ids, placement: Placement | None
           ) -> tuple[str, list[Ksb]]:
    """Every rule a placement must keep; returns the cleaned objectives and the KSBs."""
    if actor is not None and not policy.can_edit_apprenticeship(actor, apprenticeship):
        raise ServiceError("You cannot change the placements of this apprenticeship")
    if team is None:
        raise ServiceError("Select the host team", field="team")
    if not team.organisation.active:
        raise ServiceError(f"{team.organisation.name} is no longer taking part in Pathways", field="team")
    if supervisor is None:
        raise ServiceError("Select the supervisor", field="supervisor")
    if not supervisor.active:
        raise ServiceError(f"{supervisor.name}'s account is deactivated. Choose an active supervisor",
                           field="supervisor")
    if not supervisor.has_role(Role.SUPERVISOR):
        raise ServiceError(f"{supervisor.name} is not a supervisor. Choose someone with the supervisor role",
                           field="supervisor")
    if supervisor.id == apprenticeship.apprentice_id:
        raise ServiceError("Apprentices cannot supervise their own placement", field="supervisor")
    if starts_on is None:
        raise ServiceError("Enter the date the placement starts", field="starts_on")
    if ends_on is None:
        raise ServiceError("Enter the date the placement ends", field="ends_on")
    if ends_on < starts_on:
        raise ServiceError("The end date must be the same as or after the start date", field="ends_on")
    first, last = apprenticeship.starts_on, apprenticeship_end(apprenticeship)
    if starts_on < first or ends_on > last:
        ending = "ends" if apprenticeship.actual_end_on else "is planned to end"
        raise ServiceError(f"A placement must fall within the apprenticeship, which starts on {_day(first)} and "
                           f"{ending} on {_day(last)}", field="starts_on" if starts_on < first else "ends_on")
    overlapping = db.session.scalars(
        select(Placement)
        .where(Placement.apprenticeship_id == apprenticeship.id, Placement.starts_on <= ends_on,
               Placement.ends_on >= starts_on, Placement.id != (placement.id if placement else -1))
        .order_by(Placement.starts_on)
        .limit(1)
    ).first()
    if overlapping is not None:
        raise ServiceError(f"This overlaps the placement with {describe(overlapping)}. An apprentice has one "
                           "placement at a time", field="starts_on")
    _check_capacity(team, starts_on, ends_on, apprenticeship)
    ksbs = _ksbs(apprenticeship, ksb_ids)
    objectives = (objectives or "").strip()
    if not objectives:
        raise ServiceError("Enter the placement's objectives", field="objectives")
    if len(objectives) > OBJECTIVES_MAX:
        raise ServiceError(f"Objectives must be {OBJECTIVES_MAX:,} characters or fewer", field="objectives")
    return objectives, ksbs


def _ksbs(apprenticeship: Apprenticeship, ksb_ids) -> list[Ksb]:
    try:
        wanted = {int(i) for i in (ksb_ids or [])}
    except (TypeError, ValueError):
        raise ServiceError("Select KSBs from the list", field="ksb_ids") from None
    if not wanted:
        return []
    found = db.session.scalars(select(Ksb).where(Ksb.id.in_(wanted)).order_by(Ksb.position)).all()
    version = apprenticeship.standard_version
    foreign = [k for k in found if k.standard_version_id != version.id]
    if foreign or len(found) != len(wanted):
        codes = ", ".join(k.code for k in foreign) or "A chosen KSB"
        verb = "is not a KSB" if len(foreign) <= 1 else "are not KSBs"
        standard = f"{version.standard.reference} version {version.version}"
        raise ServiceError(f"{codes} {verb} of this apprenticeship's standard ({standard}). Choose KSBs from the list",
                           field="ksb_ids")
    return list(found)


def add_placement(actor: Person | None, apprenticeship: Apprenticeship, *, team: Team | None,
                  supervisor: Person | None, starts_on: date | None, ends_on: date | None, objectives: str,
                  ksb_ids=()) -> Placement:
    """Place the apprentice with ``team``; the host organisation is the team's organisation, in any borough
    or partner body, whoever coordinates the record."""
    if apprenticeship.status in ENDED:
        raise ServiceError(f"This apprenticeship is {apprenticeship.status.label.lower()}; it cannot have new "
                           "placements")
    objectives, ksbs = _check(actor, apprenticeship, team=team, supervisor=supervisor, starts_on=starts_on,
                              ends_on=ends_on, objectives=objectives, ksb_ids=ksb_ids, placement=None)
    placement = Placement(apprenticeship=apprenticeship, host_organisation=team.organisation, team=team,
                          supervisor=supervisor, starts_on=starts_on, ends_on=ends_on, objectives=objectives,
                          ksbs=ksbs)
    db.session.add(placement)
    db.session.flush()
    apprenticeship.placements.sort(key=lambda p: p.starts_on)
    audit.record(actor, "placement.added", placement,
                 f"Placed {apprenticeship.apprentice.name} with {describe(placement)}, supervised by {supervisor.name}",
                 apprenticeship_id=apprenticeship.id, host=team.organisation.code, team_id=team.id,
                 supervisor_id=supervisor.id, starts_on=starts_on.isoformat(), ends_on=ends_on.isoformat(),
                 ksbs=[k.code for k in ksbs])
    review_rows.refresh_for([apprenticeship.id])
    return placement


def update_placement(actor: Person | None, placement: Placement, *, team: Team | None, supervisor: Person | None,
                     starts_on: date | None, ends_on: date | None, objectives: str, ksb_ids=()) -> Placement:
    """Change a placement under the same rules as adding one (it does not clash with itself)."""
    apprenticeship = placement.apprenticeship
    objectives, ksbs = _check(actor, apprenticeship, team=team, supervisor=supervisor, starts_on=starts_on,
                              ends_on=ends_on, objectives=objectives, ksb_ids=ksb_ids, placement=placement)
    before = _snapshot(placement)
    placement.team, placement.host_organisation, placement.supervisor = team, team.organisation, supervisor
    placement.starts_on, placement.ends_on, placement.objectives = starts_on, ends_on, objectives
    placement.ksbs = ksbs
    db.session.flush()
    apprenticeship.placements.sort(key=lambda p: p.starts_on)
    after = _snapshot(placement)
    changed = {name: {"from": before[name], "to": after[name]} for name in after if before[name] != after[name]}
    if changed:
        audit.record(actor, "placement.changed", placement,
                     f"Changed {apprenticeship.apprentice.name}'s placement: now {describe(placement)}, "
                     f"supervised by {supervisor.name}", apprenticeship_id=apprenticeship.id, changed=changed)
    review_rows.refresh_for([apprenticeship.id])
    return placement


def _snapshot(placement: Placement) -> dict:
    return {"team": f"{placement.team.name} ({placement.host_organisation.code})",
            "supervisor": placement.supervisor.name, "starts_on": placement.starts_on.isoformat(),
            "ends_on": placement.ends_on.isoformat(), "objectives": placement.objectives,
            "ksbs": [k.code for k in placement.ksbs]}


# The supervisor's feedback -------------------------------------------------------------------


def feedback_opens_on(placement: Placement) -> date:
    return placement.ends_on - timedelta(days=FEEDBACK_OPENS_DAYS_BEFORE_END)


def may_record_feedback(actor: Person, placement: Placement) -> bool:
    """The placement's own supervisor, or someone who may edit the apprenticeship."""
    return actor.is_authenticated and (
        placement.supervisor_id == actor.id or policy.can_edit_apprenticeship(actor, placement.apprenticeship))


def feedback_open(placement: Placement, as_of: date | None = None) -> bool:
    return (as_of or clock.today()) >= feedback_opens_on(placement)


def record_feedback(actor: Person, placement: Placement, feedback: str) -> Placement:
    """The supervisor's feedback at the end of the placement: from 14 days before it ends onwards."""
    if not may_record_feedback(actor, placement):
        raise ServiceError("Only the placement's supervisor or a coordinator of the apprenticeship can give "
                           "feedback on it")
    feedback = (feedback or "").strip()
    if not feedback:
        raise ServiceError("Enter your feedback on the placement", field="feedback")
    if len(feedback) > FEEDBACK_MAX:
        raise ServiceError(f"Feedback must be {FEEDBACK_MAX:,} characters or fewer", field="feedback")
    if not feedback_open(placement):
        raise ServiceError(f"Feedback can be given from {FEEDBACK_OPENS_DAYS_BEFORE_END} days before the placement "
                           f"ends, so from {_day(feedback_opens_on(placement))}", field="feedback")
    replacing = placement.supervisor_feedback is not None
    placement.supervisor_feedback = feedback
    placement.feedback_at = utcnow()
    db.session.flush()
    apprentice = placement.apprenticeship.apprentice
    audit.record(actor, "placement.feedback_changed" if replacing else "placement.feedback_recorded", placement,
                 f"{'Changed' if replacing else 'Recorded'} feedback on {apprentice.name}'s placement with "
                 f"{describe(placement)}", apprenticeship_id=placement.apprenticeship_id)
    return placement


# Reading placements ----------------------------------------------------------------------------


def placement_on(apprenticeship: Apprenticeship, day: date) -> Placement | None:
    """The placement in force on ``day`` (its supervisor approves that day's hours), if any."""
    return next((p for p in apprenticeship.placements if p.starts_on <= day <= p.ends_on), None)


def current_placement(apprenticeship: Apprenticeship) -> Placement | None:
    return placement_on(apprenticeship, clock.today())


def placements_of(apprenticeship: Apprenticeship) -> list[Placement]:
    """The apprenticeship's placements in date order, with their host, team, supervisor and KSBs loaded in a
    fixed number of queries."""
    return list(db.session.scalars(
        select(Placement)
        .where(Placement.apprenticeship_id == apprenticeship.id)
        .options(joinedload(Placement.host_organisation), joinedload(Placement.team),
                 joinedload(Placement.supervisor), selectinload(Placement.ksbs))
        .order_by(Placement.starts_on, Placement.id)
    ).unique())


def _state(starts_on: date, ends_on: date, as_of: date) -> str:
    if ends_on < as_of:
        return "past"
    if starts_on > as_of:
        return "future"
    return "current"


@dataclass(frozen=True)
class Segment:
    """A stretch of the apprenticeship: a placement, or a gap with no placement. ``gap`` says where a gap
    falls: "start", "between", "end", or "whole" when there are no placements at all."""

    starts_on: date
    ends_on: date
    state: str  # past, current or future
    placement: Placement | None = None
    gap: str | None = None

    @property
    def is_gap(self) -> bool:
        return self.placement is None

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1


def timeline(apprenticeship: Apprenticeship, as_of: date | None = None) -> list[Segment]:
    """The apprenticeship from its start to its (actual or planned) end, in date order: each placement and
    each gap before, between and after them. Placements are clipped to the apprenticeship's dates."""
    as_of = as_of or clock.today()
    first, last = apprenticeship.starts_on, apprenticeship_end(apprenticeship)
    segments: list[Segment] = []
    cursor = first
    placed = sorted((p for p in apprenticeship.placements if p.starts_on <= last and p.ends_on >= first),
                    key=lambda p: (p.starts_on, p.id or 0))
    for placement in placed:
        starts_on, ends_on = max(placement.starts_on, first), min(placement.ends_on, last)
        if starts_on > cursor:
            gap_end = starts_on - timedelta(days=1)
            segments.append(Segment(cursor, gap_end, _state(cursor, gap_end, as_of),
                                    gap="start" if not segments else "between"))
        if ends_on >= cursor:
            segments.append(Segment(max(starts_on, cursor), ends_on, _state(starts_on, ends_on, as_of), placement))
            cursor = ends_on + timedelta(days=1)
    if cursor <= last:
        segments.append(Segment(cursor, last, _state(cursor, last, as_of), gap="end" if segments else "whole"))
    return segments


def gaps(segments: list[Segment]) -> list[Segment]:
    return [s for s in segments if s.is_gap]


# A supervisor's apprentices --------------------------------------------------------------------


@dataclass
class SupervisedApprenticeship:
    apprenticeship: Apprenticeship
    as_of: date
    # This supervisor's placements of the apprentice, in date order.
    placements: list[Placement] = field(default_factory=list)
    state: str = "past"  # "current" while placed with them now; "future" when only due to start

    @property
    def placement(self) -> Placement:
        """The placement that matters now: the current one, else the next, else the latest."""
        if self.state == "past":
            return self.placements[-1]
        return next(p for p in self.placements if _state(p.starts_on, p.ends_on, self.as_of) == self.state)


@dataclass
class SupervisedApprenticeships:
    current: list[SupervisedApprenticeship]  # placed with the supervisor now or due to be
    past: list[SupervisedApprenticeship]  # placements with them that have ended: read only


def supervised_apprenticeships(supervisor: Person, as_of: date | None = None) -> SupervisedApprenticeships:
    """Apprentices placed with ``supervisor``, now or before, in one query (plus one for the apprentices'
    roles)."""
    as_of = as_of or clock.today()
    rows = db.session.scalars(
        select(Placement)
        .where(Placement.supervisor_id == supervisor.id)
        .options(
            joinedload(Placement.apprenticeship).joinedload(Apprenticeship.apprentice),
            joinedload(Placement.apprenticeship).joinedload(Apprenticeship.standard_version)
            .joinedload(StandardVersion.standard),
            joinedload(Placement.host_organisation), joinedload(Placement.team),
        )
        .order_by(Placement.starts_on, Placement.id)
    ).unique().all()
    by_apprenticeship: dict[int, SupervisedApprenticeship] = {}
    rank = {"past": 0, "future": 1, "current": 2}
    for placement in rows:
        entry = by_apprenticeship.setdefault(
            placement.apprenticeship_id, SupervisedApprenticeship(placement.apprenticeship, as_of))
        entry.placements.append(placement)
        state = _state(placement.starts_on, placement.ends_on, as_of)
        if rank[state] > rank[entry.state]:
            entry.state = state
    entries = sorted(by_apprenticeship.values(), key=lambda e: e.apprenticeship.apprentice.name.lower())
    return SupervisedApprenticeships(current=[e for e in entries if e.state != "past"],
                                     past=[e for e in entries if e.state == "past"])


# Team capacity ---------------------------------------------------------------------------------


def set_team_capacity(actor: Person | None, team: Team, capacity: int | None) -> Team:
    """How many apprentices ``team`` can host at once; ``None`` means no limit."""
    if actor is not None and not policy.can_manage_organisations(actor):
        raise ServiceError("Only admins can set a team's apprentice capacity")
    if capacity is not None and capacity < 0:
        raise ServiceError("Apprentice capacity must be 0 or more, or left empty for no limit",
                           field="apprentice_capacity")
    if capacity == team.apprentice_capacity:
        return team
    before = team.apprentice_capacity
    team.apprentice_capacity = capacity
    db.session.flush()
    shown = "no limit" if capacity is None else _plural(capacity, "apprentice")
    audit.record(actor, "team.capacity_changed", team,
                 f"Set the apprentice capacity of {team.name} ({team.organisation.name}) to {shown}",
                 before=before, after=capacity)
    return team
