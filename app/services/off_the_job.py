"""Off-the-job hours: logging them (by the apprentice, or a coordinator on their behalf), approving and
rejecting them (the supervisor of the placement in force that day, or a coordinator), and the lists
that show them.

Every entry is checked as auditors check it: inside the apprenticeship's dates and outside any break in
learning, an activity that counts, the KSBs of the apprentice's own standard, no more than a working day
on one date (so lump entries are refused) and no exact duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import bindparam, case, func, or_, select, true, update
from sqlalchemy.orm import selectinload

from app import policy
from app.extensions import db
from app.models import (
    ActivityType,
    Apprenticeship,
    ApprenticeshipStatus,
    EvidenceFile,
    Ksb,
    Organisation,
    OtjActivity,
    OtjStatus,
    Person,
    Placement,
    Standard,
    StandardVersion,
    Team,
)
from app.models.apprenticeships import otj_activity_ksb
from app.models.types import utcnow
from app.services import ServiceError, apprenticeship_rules, audit, clock, locks, otj_totals, review_rows
from app.services import evidence as evidence_files
from app.services import hours as hours_shown
from app.services.apprenticeships import name_of

PAGE_SIZE = 25
DESCRIPTION_MAX = 2000
REASON_MAX = 2000
CLOSED = {
    ApprenticeshipStatus.WITHDRAWN: "was withdrawn",
    ApprenticeshipStatus.COMPLETED: "has been completed",
}


# Wording ---------------------------------------------------------------------------------------


def describe_minutes(minutes: int) -> str:
    """E.g. "1 hour 30 minutes", "45 minutes", "8 hours"."""
    hours, rest = divmod(max(int(minutes), 0), 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


def format_hours(hours: Decimal | int | float) -> str:
    """Hours as a figure without needless decimals: 12, 12.5, 12.25 (``hours.text``, the one rounding)."""
    return hours_shown.text(hours, grouping=True)


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def max_minutes_per_day() -> int:
    return int(Decimal(str(current_app.config["OTJ_MAX_HOURS_PER_DAY"])) * 60)


def end_of(apprenticeship: Apprenticeship) -> date:
    """The last day hours can fall on: the actual end when there is one, else the planned end."""
    return apprenticeship.actual_end_on or apprenticeship.planned_end_on


def rule_set_of(apprenticeship: Apprenticeship) -> apprenticeship_rules.RuleSet:
    rule_set = apprenticeship_rules.RULE_SETS_BY_KEY.get(apprenticeship.rule_set)
    return rule_set or apprenticeship_rules.rule_set_for(apprenticeship.starts_on)


def counting_activity_types(apprenticeship: Apprenticeship) -> list[ActivityType]:
    rule_set = rule_set_of(apprenticeship)
    return [t for t in ActivityType if apprenticeship_rules.counts_as_off_the_job(rule_set, t)]


def closed_reason(apprenticeship: Apprenticeship) -> str | None:
    """Why no more hours can be logged at all, or None."""
    closed = CLOSED.get(apprenticeship.status)
    if closed is None:
        return None
    return f"This apprenticeship {closed}, so no more off-the-job hours can be logged"


# Logging ---------------------------------------------------------------------------------------


def _check_day(apprenticeship: Apprenticeship, occurred_on: date | None) -> None:
    if occurred_on is None:
        raise ServiceError("Enter the date of the activity", "occurred_on")
    if occurred_on > clock.today():
        raise ServiceError("The date cannot be in the future: log hours once the learning has happened",
                           "occurred_on")
    start, end = apprenticeship.starts_on, end_of(apprenticeship)
    if not start <= occurred_on <= end:
        raise ServiceError(f"The date must be between {_day(start)} and {_day(end)}, the dates of the "
                           "apprenticeship", "occurred_on")
    if otj_totals.in_break(apprenticeship, occurred_on):
        found = next(b for b in apprenticeship.breaks
                     if b.starts_on <= occurred_on and (b.ends_on is None or occurred_on <= b.ends_on))
        until = f"to {_day(found.ends_on)}" if found.ends_on else "and is not over yet"
        raise ServiceError(f"{_day(occurred_on)} is inside the break in learning that started on "
                           f"{_day(found.starts_on)} {until}: no hours can be logged during a break", "occurred_on")


def _check_activity_type(apprenticeship: Apprenticeship, activity_type) -> ActivityType:
    try:
        activity_type = ActivityType(activity_type)
    except ValueError:
        raise ServiceError("Select the type of activity", "activity_type") from None
    if not apprenticeship_rules.counts_as_off_the_job(rule_set_of(apprenticeship), activity_type):
        why = apprenticeship_rules.WHY_NOT_COUNTED.get(activity_type, "It is not new learning of the standard")
        raise ServiceError(f"{activity_type.label} does not count as off-the-job training. {why}.", "activity_type")
    return activity_type


def _check_description(description: str | None) -> str:
    description = (description or "").strip()
    if not description:
        raise ServiceError("Describe what you did and what you learnt", "description")
    if len(description) > DESCRIPTION_MAX:
        raise ServiceError(f"The description must be {DESCRIPTION_MAX:,} characters or fewer", "description")
    return description


def _check_ksbs(apprenticeship: Apprenticeship, ksb_ids) -> list[Ksb]:
    ids = {int(i) for i in (ksb_ids or [])}
    if not ids:
        raise ServiceError("Select at least one knowledge, skill or behaviour this activity built", "ksb_ids")
    # The standard version is only needed to explain a refusal: it loads lazily then.
    ksbs = db.session.scalars(select(Ksb).where(Ksb.id.in_(ids)).order_by(Ksb.position)).all()
    if len(ksbs) != len(ids):
        raise ServiceError("One of the selected KSBs no longer exists: select from the list again", "ksb_ids")
    own = apprenticeship.standard_version
    for ksb in ksbs:
        if ksb.standard_version_id != own.id:
            other = ksb.standard_version
            raise ServiceError(
                f"{ksb.code} of {other.standard.reference} v{other.version} is not a KSB of this apprenticeship's "
                f"standard ({own.standard.reference} v{own.version}): select KSBs of "
                f"{own.standard.title} only", "ksb_ids")
    return list(ksbs)


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def _check_day_total(apprenticeship: Apprenticeship, occurred_on: date, minutes: int,
                     activity_type: ActivityType, description: str) -> None:
    """No exact duplicate, and no more than a working day on one date across the apprentice's entries."""
    same_day = db.session.execute(
        select(OtjActivity.minutes, OtjActivity.activity_type, OtjActivity.description)
        .join(Apprenticeship, OtjActivity.apprenticeship_id == Apprenticeship.id)
        .where(Apprenticeship.apprentice_id == apprenticeship.apprentice_id,
               OtjActivity.occurred_on == occurred_on, OtjActivity.status != OtjStatus.REJECTED)
    ).all()
    wanted = _normal(description)
    for row in same_day:
        if row.minutes == minutes and row.activity_type == activity_type and _normal(row.description) == wanted:
            raise ServiceError(f"These hours are already logged: the same activity, duration and description on "
                               f"{_day(occurred_on)}", "description")
    already = sum(row.minutes for row in same_day)
    limit = max_minutes_per_day()
    if already + minutes > limit:
        room = limit - already
        if already:
            rest = (f"at most {describe_minutes(room)} more can be added" if room > 0
                    else "nothing more can be added that day")
            message = (f"No more than {describe_minutes(limit)} can be logged for one day. Already logged on "
                       f"{_day(occurred_on)}: {describe_minutes(already)}, so {rest}. Log each day's learning on "
                       "its own day")
        else:
            message = (f"No more than {describe_minutes(limit)} can be logged for one day: log each day's "
                       "learning on its own day")
        raise ServiceError(message, "minutes")


def placement_on(apprenticeship: Apprenticeship, day: date) -> Placement | None:
    """The placement in force on ``day``, whose supervisor approves that day's hours."""
    return db.session.scalar(
        select(Placement)
        .where(Placement.apprenticeship_id == apprenticeship.id, Placement.starts_on <= day, Placement.ends_on >= day)
        .order_by(Placement.starts_on.desc())
        .limit(1)
    )


def log_activity(actor: Person, apprenticeship: Apprenticeship, *, occurred_on: date | None, minutes: int | None,
                 activity_type, description: str | None, ksb_ids, evidence=None) -> OtjActivity:
    """Record off-the-job hours for one day, waiting for approval. ``evidence`` is an optional file
    (with ``filename`` and ``read``). Refuses with a ``ServiceError`` naming the field at fault."""
    if not policy.can_log_otj_for(actor, apprenticeship):
        raise ServiceError("You cannot log off-the-job hours for this apprentice")
    # The day's limit and the duplicate check read the apprentice's entries before this one is added: one
    # request at a time per apprentice, or twenty at once would all find room (until the transaction ends).
    locks.lock_rows(Apprenticeship.__table__, Apprenticeship.apprentice_id == apprenticeship.apprentice_id)
    closed = closed_reason(apprenticeship)
    if closed:
        raise ServiceError(closed, "occurred_on")
    _check_day(apprenticeship, occurred_on)
    if minutes is None or int(minutes) <= 0:
        raise ServiceError("Enter how long the activity took, more than 0 minutes", "minutes")
    minutes = int(minutes)
    activity_type = _check_activity_type(apprenticeship, activity_type)
    description = _check_description(description)
    ksbs = _check_ksbs(apprenticeship, ksb_ids)
    _check_day_total(apprenticeship, occurred_on, minutes, activity_type, description)

    placement = placement_on(apprenticeship, occurred_on)
    activity = OtjActivity(
        apprenticeship=apprenticeship, placement=placement, occurred_on=occurred_on, minutes=minutes,
        activity_type=activity_type, description=description, status=OtjStatus.SUBMITTED,
        logged_by_id=actor.id, ksbs=ksbs,
    )
    db.session.add(activity)
    db.session.flush()
    stored = evidence_files.store(activity, evidence) if evidence is not None else None
    db.session.flush()
    on_behalf = actor.id != apprenticeship.apprentice_id
    audit.record(
        actor, "otj.logged", activity,
        f"Logged {describe_minutes(minutes)} of {activity_type.label.lower()} on {_day(occurred_on)}"
        + (f" for {apprenticeship.apprentice.name}" if on_behalf else ""),
        apprenticeship_id=apprenticeship.id, minutes=minutes, occurred_on=occurred_on.isoformat(),
        ksbs=[k.code for k in ksbs], on_behalf=on_behalf, evidence=stored.filename if stored else None,
    )
    review_rows.refresh_for([apprenticeship.id])
    return activity


# Deciding ---------------------------------------------------------------------------------------


def _check_decidable(actor: Person, activity: OtjActivity, verb: str) -> None:
    who = activity.apprenticeship.apprentice.name
    when = _day(activity.occurred_on)
    if activity.apprenticeship.apprentice_id == actor.id or activity.logged_by_id == actor.id:
        raise ServiceError(f"You cannot {verb} hours you logged yourself ({who}, {when}): someone else must")
    if not policy.can_decide_otj(actor, activity):
        if policy.can_view_apprenticeship(actor, activity.apprenticeship):
            raise ServiceError(f"You cannot {verb} the hours {who} logged on {when}: only the supervisor of the "
                               "placement that day or a coordinator can")
        raise ServiceError(f"You cannot {verb} one of the selected entries")
    if activity.status is not OtjStatus.SUBMITTED:
        raise _already_decided(activity)


def _already_decided(activity: OtjActivity) -> ServiceError:
    by = f" by {activity.decided_by.name}" if activity.decided_by is not None else ""
    at = f" on {activity.decided_at.astimezone(clock.LONDON):%-d %B %Y}" if activity.decided_at else ""
    return ServiceError(f"The hours {activity.apprenticeship.apprentice.name} logged on {_day(activity.occurred_on)} "
                        f"have already been {activity.status.label.lower()}{by}{at}")


def _decide(actor: Person, activities: list[OtjActivity], status: OtjStatus, reason: str | None) -> None:
    """Record the decision on every one of ``activities`` that is still waiting, in one conditional update: of two
    people deciding at once, one changes an entry and the other is told who did (their whole batch is refused)."""
    ids = [activity.id for activity in activities]
    changed = db.session.execute(
        update(OtjActivity)
        .where(OtjActivity.id.in_(ids), OtjActivity.status == OtjStatus.SUBMITTED)
        .values(status=status, decided_by_id=actor.id, decided_at=utcnow(), rejection_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    # What the update wrote is read back only when something asks for it (the loser's message, a page).
    for activity in activities:
        db.session.expire(activity, ["status", "decided_by_id", "decided_at", "rejection_reason", "decided_by"])
    if changed != len(ids):
        raise _already_decided(next(a for a in activities if a.status is not status or a.decided_by_id != actor.id))


def approve(actor: Person, activities: list[OtjActivity]) -> int:
    """Approve every one of ``activities`` or none: a single entry the actor may not decide, or one that is
    no longer waiting, refuses the whole batch."""
    if not activities:
        raise ServiceError("Select the hours to approve", "activity_ids")
    for activity in activities:
        _check_decidable(actor, activity, "approve")
    _decide(actor, activities, OtjStatus.APPROVED, None)
    for activity in activities:
        audit.record(actor, "otj.approved", activity,
                     f"Approved {describe_minutes(activity.minutes)} on {_day(activity.occurred_on)} for "
                     f"{activity.apprenticeship.apprentice.name}",
                     apprenticeship_id=activity.apprenticeship_id, minutes=activity.minutes)
    db.session.flush()
    review_rows.refresh_for({activity.apprenticeship_id for activity in activities})
    return len(activities)


def reject(actor: Person, activity: OtjActivity, reason: str | None) -> OtjActivity:
    reason = (reason or "").strip()
    _check_decidable(actor, activity, "reject")
    if not reason:
        raise ServiceError("Enter the reason for rejecting these hours, so the apprentice can put them right",
                           "reason")
    if len(reason) > REASON_MAX:
        raise ServiceError(f"The reason must be {REASON_MAX:,} characters or fewer", "reason")
    _decide(actor, [activity], OtjStatus.REJECTED, reason)
    audit.record(actor, "otj.rejected", activity,
                 f"Rejected {describe_minutes(activity.minutes)} on {_day(activity.occurred_on)} for "
                 f"{activity.apprenticeship.apprentice.name}",
                 apprenticeship_id=activity.apprenticeship_id, reason=reason)
    db.session.flush()
    review_rows.refresh_for([activity.apprenticeship_id])
    return activity


# Lists ------------------------------------------------------------------------------------------


def _with_details(query):
    return query.options(
        selectinload(OtjActivity.apprenticeship).selectinload(Apprenticeship.apprentice),
        selectinload(OtjActivity.ksbs),
        selectinload(OtjActivity.evidence),
        selectinload(OtjActivity.placement),
        selectinload(OtjActivity.logged_by),
    )


def _queue_conditions(person_id, coordinated, apprenticeship_id=None) -> list:
    """Conditions on ``OtjActivity``: submitted entries the person may decide, as the supervisor of the placement
    that day or as a coordinator of the record (``coordinated``: None for every record, False for none, else a
    condition on ``Apprenticeship``). Never their own hours, nor hours they logged. ``person_id`` and
    ``apprenticeship_id`` (None: every record's) are values or bound parameters."""
    supervised = OtjActivity.placement_id.in_(select(Placement.id).where(Placement.supervisor_id == person_id))
    if coordinated is None:
        allowed = true()
    elif coordinated is False:
        allowed = supervised
    else:
        allowed = or_(supervised, OtjActivity.apprenticeship_id.in_(select(Apprenticeship.id).where(coordinated)))
    # Conditions on the entry alone: each entry is checked against the person's own few records rather than
    # joined to its record, which the queue's count and sort would otherwise do for every waiting entry.
    own = select(Apprenticeship.id).where(Apprenticeship.apprentice_id == person_id)
    conditions = [OtjActivity.status == OtjStatus.SUBMITTED, allowed,
                  OtjActivity.apprenticeship_id.not_in(own), OtjActivity.logged_by_id != person_id]
    if apprenticeship_id is not None:
        conditions.append(OtjActivity.apprenticeship_id == apprenticeship_id)
    return conditions


def _coordinated(person: Person):
    """The records ``person`` keeps as a coordinator, as ``_queue_conditions`` takes them: everyone's for admins
    and programme-wide coordinators (None), none for others (False)."""
    scope = policy.managed_organisation_ids(person)
    if scope is None:
        return None
    return policy.apprenticeship_scope_filter(person) if scope else False


def queue_query(person: Person, *, apprenticeship_id: int | None = None):
    """Submitted entries ``person`` may decide (see ``_queue_conditions``), oldest first, as objects."""
    query = (
        select(OtjActivity)
        .join(Apprenticeship, OtjActivity.apprenticeship_id == Apprenticeship.id)
        .where(*_queue_conditions(person.id, _coordinated(person), apprenticeship_id))
        .order_by(OtjActivity.occurred_on, OtjActivity.id)
    )
    return _with_details(query)


class RowPage(Pagination):
    """A page of plain rows for the pagination component: ``rows(limit, offset)`` gives the page's rows and
    how many there are in all, however it finds them (counted first, counted with the rows, or known)."""

    def _query_items(self) -> list:
        items, self._total = self._query_args["rows"](self.per_page, (self.page - 1) * self.per_page)
        return items

    def _query_count(self) -> int:
        return self._total


def _read(statement, **params):
    """Rows of a read-only statement on the session's connection: plain rows, without the work of the
    session's object loading (nothing is pending when these lists are read, so nothing needs flushing)."""
    return db.session.connection().execute(statement, params)


def _with_ksb_codes(page_query, page_ids):
    """``page_query`` (selecting from the subquery ``page_ids`` of a page's entry ids) with a row per entry and
    KSB, in the standard's order after the page's own (one with no code for an entry without KSBs): a page's
    entries and their KSBs in one query."""
    link = otj_activity_ksb.c
    return (
        page_query.add_columns(Ksb.code)
        .outerjoin(otj_activity_ksb, link.otj_activity_id == page_ids.c.id)
        .outerjoin(Ksb, Ksb.id == link.ksb_id)
        .order_by(Ksb.position)
    )


def _entries_with_codes(rows, make) -> list:
    """One ``make(*columns, ksb_codes=...)`` per entry from the rows of :func:`_with_ksb_codes` (whose last
    column is the code), the codes joined as the lists show them: "K1, S2"."""
    entries, codes, last = [], [], None
    for row in rows:
        if last is not None and row[0] != last[0]:
            entries.append(make(*last[:-1], ksb_codes=", ".join(codes)))
            codes = []
        if row[-1] is not None:
            codes.append(row[-1])
        last = row
    if last is not None:
        entries.append(make(*last[:-1], ksb_codes=", ".join(codes)))
    return entries


@dataclass(slots=True)
class QueueEntry:
    """An entry waiting for a decision, as the supervisor's queue shows it."""

    id: int
    apprenticeship_id: int
    apprentice_id: int
    apprentice_name: str
    occurred_on: date
    minutes: int
    activity_type: ActivityType
    description: str
    logged_by_id: int
    logged_by_name: str
    evidence_filename: str | None
    ksb_codes: str = ""


def _queue_statements(coordinated, filtered: bool):
    """The queue's count and page (see :func:`approval_queue`), the person, record, limit and offset as
    parameters."""
    conditions = _queue_conditions(bindparam("person_id"), coordinated,
                                   bindparam("apprenticeship_id") if filtered else None)
    count = select(func.count()).select_from(OtjActivity).where(*conditions)
    page_ids = (
        select(OtjActivity.id).where(*conditions)
        .order_by(OtjActivity.occurred_on, OtjActivity.id)
        .limit(bindparam("limit")).offset(bindparam("offset"))
        .subquery()
    )
    page = (
        select(OtjActivity.id, OtjActivity.apprenticeship_id, Apprenticeship.apprentice_id,
               name_of(Person, Apprenticeship.apprentice_id), OtjActivity.occurred_on, OtjActivity.minutes,
               OtjActivity.activity_type, OtjActivity.description, OtjActivity.logged_by_id,
               name_of(Person, OtjActivity.logged_by_id), _evidence_filename())
        .select_from(page_ids)
        .join(OtjActivity, OtjActivity.id == page_ids.c.id)
        .join(Apprenticeship, OtjActivity.apprenticeship_id == Apprenticeship.id)
        .order_by(OtjActivity.occurred_on, OtjActivity.id)
    )
    return count, _with_ksb_codes(page, page_ids)


def _evidence_filename():
    return select(EvidenceFile.filename).where(EvidenceFile.otj_activity_id == OtjActivity.id).scalar_subquery()


# Built once for supervisors (who coordinate nothing) and for those who coordinate every record; a borough
# coordinator's carry their organisations.
_queue_statements_for_all = cache(_queue_statements)


def approval_queue(person: Person, *, page: int = 1, apprenticeship_id: int | None = None,
                   per_page: int = PAGE_SIZE) -> RowPage:
    """A page of the entries ``person`` may decide (as :func:`queue_query`), oldest first, as ``QueueEntry``
    rows: how many there are, then the page's entries with their names and KSB codes, so the same two
    queries however long the queue (one when it is empty)."""
    coordinated = _coordinated(person)
    filtered = apprenticeship_id is not None
    if coordinated is None or coordinated is False:
        count, page_query = _queue_statements_for_all(coordinated, filtered)
    else:
        count, page_query = _queue_statements(coordinated, filtered)
    params = {"person_id": person.id, **({"apprenticeship_id": apprenticeship_id} if filtered else {})}

    def rows(limit: int, offset: int):
        total = _read(count, **params).scalar_one()
        if offset >= total:
            return [], total
        return _entries_with_codes(_read(page_query, **params, limit=limit, offset=offset), QueueEntry), total

    return RowPage(page=page, per_page=per_page, error_out=False, rows=rows)


@dataclass(slots=True)
class EntryRow:
    """An entry as the apprenticeship's list of entries shows it."""

    id: int
    occurred_on: date
    minutes: int
    activity_type: ActivityType
    description: str
    status: OtjStatus
    evidence_filename: str | None
    ksb_codes: str = ""


@cache
def _entries_query(filtered: bool):
    """Built once (with and without the status filter): a page of an apprenticeship's entries, newest first,
    with their KSB codes (see ``_with_ksb_codes``)."""
    newest_first = (OtjActivity.occurred_on.desc(), OtjActivity.id.desc())
    page_ids = (
        select(OtjActivity.id).where(OtjActivity.apprenticeship_id == bindparam("apprenticeship_id"))
        .order_by(*newest_first).limit(bindparam("limit")).offset(bindparam("offset"))
    )
    if filtered:
        page_ids = page_ids.where(OtjActivity.status == bindparam("status"))
    page_ids = page_ids.subquery()
    page = (
        select(OtjActivity.id, OtjActivity.occurred_on, OtjActivity.minutes, OtjActivity.activity_type,
               OtjActivity.description, OtjActivity.status, _evidence_filename())
        .select_from(page_ids).join(OtjActivity, OtjActivity.id == page_ids.c.id)
        .order_by(*newest_first)
    )
    return _with_ksb_codes(page, page_ids)


def entries_page(apprenticeship, *, total: int, status: OtjStatus | None = None, page: int = 1,
                 per_page: int = PAGE_SIZE) -> RowPage:
    """A page of the apprenticeship's entries, newest first, as ``EntryRow`` rows. ``total`` is how many
    entries there are (of ``status``, with one), as ``otj_totals.figures`` counts them."""

    def rows(limit: int, offset: int):
        params = {"apprenticeship_id": apprenticeship.id, "limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        return _entries_with_codes(_read(_entries_query(status is not None), **params), EntryRow), total

    return RowPage(page=page, per_page=per_page, error_out=False, rows=rows)


def activity_of(apprenticeship: Apprenticeship, activity_id: int) -> OtjActivity | None:
    """The entry, only if it belongs to ``apprenticeship``."""
    return db.session.scalar(
        select(OtjActivity)
        .where(OtjActivity.id == activity_id, OtjActivity.apprenticeship_id == apprenticeship.id)
        .options(selectinload(OtjActivity.ksbs), selectinload(OtjActivity.evidence),
                 selectinload(OtjActivity.placement).selectinload(Placement.supervisor),
                 selectinload(OtjActivity.logged_by), selectinload(OtjActivity.decided_by))
    )


def activities_by_ids(ids) -> list[OtjActivity]:
    """Entries by id, with what deciding them needs; missing ids are simply absent."""
    ids = list({int(i) for i in ids})
    if not ids:
        return []
    query = _with_details(select(OtjActivity).where(OtjActivity.id.in_(ids))).order_by(OtjActivity.occurred_on)
    query = query.options(selectinload(OtjActivity.apprenticeship).selectinload(Apprenticeship.placements))
    return list(db.session.scalars(query).all())


@cache
def _supervised_query():
    """Built once: a page of a supervisor's placements with the names the page shows, and how many in all. The
    page is chosen from the placements alone, then only its rows are joined to their records and standards (joined
    first, PostgreSQL reads every apprenticeship to match a supervisor's hundred placements)."""
    current_first = case((Placement.ends_on >= bindparam("today"), 0), else_=1)
    page = (
        select(Placement.id, Placement.apprenticeship_id, Placement.team_id, Placement.host_organisation_id,
               Placement.starts_on, Placement.ends_on, current_first.label("current_first"),
               func.count().over().label("total"))
        .where(Placement.supervisor_id == bindparam("supervisor_id"))
        .order_by(current_first, Placement.ends_on.desc(), Placement.id.desc())
        .limit(bindparam("limit")).offset(bindparam("offset"))
        .subquery()
    )
    return (
        select(page.c.id, page.c.apprenticeship_id, name_of(Person, Apprenticeship.apprentice_id),
               Standard.title, Standard.level, name_of(Team, page.c.team_id),
               name_of(Organisation, page.c.host_organisation_id), page.c.starts_on, page.c.ends_on, page.c.total)
        .select_from(page)
        .join(Apprenticeship, Apprenticeship.id == page.c.apprenticeship_id)
        .join(StandardVersion, StandardVersion.id == Apprenticeship.standard_version_id)
        .join(Standard, Standard.id == StandardVersion.standard_id)
        .order_by(page.c.current_first, page.c.ends_on.desc(), page.c.id.desc())
    )


@dataclass(slots=True)
class SupervisedPlacement:
    id: int
    apprenticeship_id: int
    apprentice_name: str
    standard_title: str
    standard_level: int
    team_name: str
    host_organisation_name: str
    starts_on: date
    ends_on: date


def supervised_placements(person: Person, *, page: int = 1, per_page: int = PAGE_SIZE) -> RowPage:
    """A page of the placements ``person`` supervises or supervised, as ``SupervisedPlacement`` rows: current
    ones first, then the most recently ended. One query, counting them too (a supervisor has tens, not
    thousands); a second only past the last page."""

    def rows(limit: int, offset: int):
        found = _read(_supervised_query(), today=clock.today(), supervisor_id=person.id, limit=limit,
                      offset=offset).all()
        if found:
            total = found[0][-1]
        else:
            total = offset and _read(select(func.count()).select_from(Placement)
                                     .where(Placement.supervisor_id == person.id)).scalar_one()
        return [SupervisedPlacement(*row[:-1]) for row in found], total

    return RowPage(page=page, per_page=per_page, error_out=False, rows=rows)
