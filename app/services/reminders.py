"""Reminders by email: de-duplicated, previewable and gathered into one message per person per run.

Each reminder is one person and one event, named by a unique ``Reminder.key``. It is recorded inside a SAVEPOINT
and skipped when the key already exists, so reruns and two schedulers acting at once never send it twice; the
email that carries it is queued in the same transaction, only for the reminders this run recorded. Everyone due
something is found in a fixed number of queries, whatever the number of people.

Events (``KINDS``; essential ones come even to people who opted out of the others):

- ``review_due``: a progress review is due within ``REVIEW_DUE_DAYS`` days (the apprentice, and the supervisor of
  the placement in force on the due date). Essential.
- ``review_overdue``: a review is past its due date and not held (the apprentice, the supervisor of the placement
  in force today, and the intake's coordinator). Essential.
- ``no_otj_14_days``: a live apprenticeship, not in a break, with nothing logged for ``NO_OTJ_DAYS`` days (the
  apprentice); repeats at most once per 14 days of silence.
- ``run_starting``: a course run starts within ``RUN_STARTING_DAYS`` days (each person enrolled).
- ``run_deadline``: a course run ends within ``RUN_DEADLINE_DAYS`` days and the person has not completed it.
- ``certificate_issued``: a certificate issued in the last ``CERTIFICATE_CATCH_UP`` (the holder). Essential.

Windows rather than single days ("within 7 days", not "in exactly 7 days") mean a day the scheduler missed is
caught up at the next run; the key still stops a second reminder. Nothing is queued outside
``DAYTIME_HOURS`` (London time), the quiet hours: the next daytime run sends it (``quiet_hours=False`` sends it
now, for a deliberate run in development).

Functions here do not commit: the caller (the scheduled job) commits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, case, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    BreakInLearning,
    Certificate,
    CertificateStatus,
    Course,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    Intake,
    OtjActivity,
    OtjStatus,
    Person,
    Placement,
    ProgressReview,
    Reminder,
    RiskFlag,
    RiskRating,
    Role,
    RoleGrant,
)
from app.models.types import utcnow
from app.services import audit, outbox
from app.services.clock import LONDON
from app.services.progress_reviews import employer_placement

REVIEW_DUE_DAYS = 7
NO_OTJ_DAYS = 14
RUN_STARTING_DAYS = 3
RUN_DEADLINE_DAYS = 7
CERTIFICATE_CATCH_UP = timedelta(days=2)
# Reminders are queued from 08:00 until 20:00 London time, never in the night.
DAYTIME_HOURS = (8, 20)
OPTED_OUT = "Opted out of non-essential reminders"
DIGEST_KIND = "digest"
_KEY_CHUNK = 500


@dataclass(frozen=True)
class Kind:
    label: str
    essential: bool


KINDS: dict[str, Kind] = {
    "review_due": Kind("Progress review due", True),
    "review_overdue": Kind("Progress review overdue", True),
    "certificate_issued": Kind("Certificate issued", True),
    "no_otj_14_days": Kind("No off-the-job hours logged for 14 days", False),
    "run_starting": Kind("Course run starting", False),
    "run_deadline": Kind("Course run ending, not yet completed", False),
    DIGEST_KIND: Kind("Weekly summary for coordinators", False),
}
DUE_KINDS = [k for k in KINDS if k != DIGEST_KIND]


@dataclass(frozen=True)
class Due:
    """One reminder due to one person: ``text`` is its line in the email, ``path`` the page it links to."""

    key: str
    person_id: int
    kind: str
    text: str
    path: str

    @property
    def essential(self) -> bool:
        return KINDS[self.kind].essential

    @property
    def label(self) -> str:
        return KINDS[self.kind].label


@dataclass(frozen=True)
class PreviewItem:
    person: Person
    due: Due
    # False: the person opted out of non-essential reminders, so this one is recorded but not sent.
    will_send: bool


# Time --------------------------------------------------------------------------------------------


def london_day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def is_daytime(now: datetime) -> bool:
    start, end = DAYTIME_HOURS
    return start <= now.astimezone(LONDON).hour < end


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def iso_week(now: datetime) -> str:
    year, week, _ = london_day(now).isocalendar()
    return f"{year}-W{week:02d}"


# Finding who is due what ---------------------------------------------------------------------------


def _review_reminders(today: date) -> list[Due]:
    due_by = today + timedelta(days=REVIEW_DUE_DAYS)
    reviews = db.session.scalars(
        select(ProgressReview).join(ProgressReview.apprenticeship)
        .where(ProgressReview.held_on.is_(None), ProgressReview.completed_at.is_(None),
               ProgressReview.due_on <= due_by, Apprenticeship.status == ApprenticeshipStatus.ACTIVE)
        .order_by(ProgressReview.id)
        .options(contains_eager(ProgressReview.apprenticeship).options(
            joinedload(Apprenticeship.apprentice), joinedload(Apprenticeship.intake),
            selectinload(Apprenticeship.placements)))
    ).unique().all()
    found = []
    for review in reviews:
        apprenticeship = review.apprenticeship
        overdue = review.due_on < today
        kind = "review_overdue" if overdue else "review_due"
        placement = employer_placement(apprenticeship, today if overdue else review.due_on)
        path = f"/apprenticeships/{apprenticeship.id}/reviews/{review.id}"
        when = _day(review.due_on)
        own = (f"Your progress review was due on {when} and has not been held yet." if overdue
               else f"Your progress review is due on {when}.")
        theirs = (f"{apprenticeship.apprentice.name}'s progress review was due on {when} and has not been held yet."
                  if overdue else f"{apprenticeship.apprentice.name}'s progress review is due on {when}.")
        recipients = {apprenticeship.apprentice_id: own}
        if placement is not None:
            recipients.setdefault(placement.supervisor_id, theirs)
        if overdue and apprenticeship.intake is not None:
            recipients.setdefault(apprenticeship.intake.coordinator_id, theirs)
        for person_id, text in recipients.items():
            found.append(Due(f"{kind}:{review.id}:{person_id}", person_id, kind, text, path))
    return found


def _otj_reminders(today: date) -> list[Due]:
    """Live apprenticeships, not in a break, with nothing logged since the London day 14 days ago. The key names
    the 14-day period of silence, counted from the last day anything happened (start, last entry logged, end of
    the last break), so the reminder repeats at most once every 14 days."""
    quiet_since = today - timedelta(days=NO_OTJ_DAYS)
    cutoff = _london_midnight(quiet_since + timedelta(days=1))
    recent = exists().where(OtjActivity.apprenticeship_id == Apprenticeship.id, OtjActivity.logged_at >= cutoff)
    in_break = exists().where(BreakInLearning.apprenticeship_id == Apprenticeship.id,
                              BreakInLearning.starts_on <= today,
                              or_(BreakInLearning.ends_on.is_(None), BreakInLearning.ends_on > quiet_since))
    last_logged = (select(func.max(OtjActivity.logged_at))
                   .where(OtjActivity.apprenticeship_id == Apprenticeship.id).scalar_subquery())
    last_break_end = (select(func.max(BreakInLearning.ends_on))
                      .where(BreakInLearning.apprenticeship_id == Apprenticeship.id,
                             BreakInLearning.starts_on <= today).scalar_subquery())
    rows = db.session.execute(
        select(Apprenticeship.id, Apprenticeship.apprentice_id, Apprenticeship.starts_on, last_logged, last_break_end)
        .where(Apprenticeship.status == ApprenticeshipStatus.ACTIVE, Apprenticeship.starts_on <= quiet_since,
               ~recent, ~in_break)
        .order_by(Apprenticeship.id)
    ).all()
    found = []
    for apprenticeship_id, person_id, starts_on, logged_at, break_end in rows:
        if isinstance(logged_at, str):  # SQLite hands an aggregate back as text
            logged_at = datetime.fromisoformat(logged_at)
        if logged_at is not None and logged_at.tzinfo is None:
            logged_at = logged_at.replace(tzinfo=UTC)
        anchor = max(d for d in (starts_on, london_day(logged_at) if logged_at else None, break_end) if d)
        days = (today - anchor).days
        period = anchor + timedelta(days=NO_OTJ_DAYS * (days // NO_OTJ_DAYS))
        text = (f"No off-the-job training has been logged for your apprenticeship for {days} days. "
                "Log the hours you have done.")
        found.append(Due(f"no_otj_14_days:{apprenticeship_id}:{period.isoformat()}", person_id, "no_otj_14_days",
                         text, f"/apprenticeships/{apprenticeship_id}/off-the-job/new"))
    return found


def _run_reminders(today: date) -> list[Due]:
    starting_by = today + timedelta(days=RUN_STARTING_DAYS)
    ending_by = today + timedelta(days=RUN_DEADLINE_DAYS)
    rows = db.session.execute(
        select(Enrolment.id, Enrolment.person_id, CourseRun.id, CourseRun.name, CourseRun.starts_on,
               CourseRun.ends_on, Course.title)
        .join(CourseRun, Enrolment.run_id == CourseRun.id).join(Course, CourseRun.course_id == Course.id)
        .where(Enrolment.status == EnrolmentStatus.ENROLLED,
               or_(CourseRun.starts_on.between(today, starting_by), CourseRun.ends_on.between(today, ending_by)))
        .order_by(Enrolment.id)
    ).all()
    found = []
    for enrolment_id, person_id, run_id, run_name, starts_on, ends_on, title in rows:
        path = f"/learning/{enrolment_id}"
        if starts_on is not None and today <= starts_on <= starting_by:
            found.append(Due(f"run_starting:{run_id}:{person_id}", person_id, "run_starting",
                             f"{title} ({run_name}) starts on {_day(starts_on)}.", path))
        if ends_on is not None and today <= ends_on <= ending_by:
            found.append(Due(f"run_deadline:{run_id}:{person_id}", person_id, "run_deadline",
                             f"{title} ({run_name}) ends on {_day(ends_on)}: complete it by then.", path))
    return found


def _certificate_reminders(now: datetime) -> list[Due]:
    rows = db.session.execute(
        select(Certificate.id, Certificate.holder_id, Certificate.number, Certificate.achievement)
        .where(Certificate.status == CertificateStatus.VALID, Certificate.issued_at >= now - CERTIFICATE_CATCH_UP)
        .order_by(Certificate.id)
    ).all()
    return [Due(f"certificate_issued:{certificate_id}", holder_id, "certificate_issued",
                f"Your certificate {number} for {achievement} has been issued. Download it from your home page.", "/")
            for certificate_id, holder_id, number, achievement in rows]


def due_reminders(now: datetime) -> list[Due]:
    """Every reminder due at ``now``, recorded or not, in a fixed number of queries."""
    today = london_day(now)
    return [*_review_reminders(today), *_otj_reminders(today), *_run_reminders(today),
            *_certificate_reminders(now)]


def _recorded_keys(keys: Iterable[str]) -> set[str]:
    keys = sorted(set(keys))
    found: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        found.update(db.session.scalars(select(Reminder.key).where(Reminder.key.in_(keys[start:start + _KEY_CHUNK]))))
    return found


def _active_people(person_ids: Iterable[int]) -> dict[int, Person]:
    ids = sorted(set(person_ids))
    found: dict[int, Person] = {}
    for start in range(0, len(ids), _KEY_CHUNK):
        found.update((p.id, p) for p in db.session.scalars(
            select(Person).where(Person.id.in_(ids[start:start + _KEY_CHUNK]), Person.active.is_(True))))
    return found


def _pending(now: datetime) -> tuple[list[Due], dict[int, Person]]:
    """Reminders due and not yet recorded, to active people, in the order they are recorded (person, key): two
    schedulers at once take the same order, so neither waits on the other in a circle."""
    due = due_reminders(now)
    recorded = _recorded_keys(d.key for d in due)
    people = _active_people(d.person_id for d in due if d.key not in recorded)
    unique = {d.key: d for d in due if d.key not in recorded and d.person_id in people}
    return sorted(unique.values(), key=lambda d: (d.person_id, d.key)), people


def preview(now: datetime | None = None) -> list[PreviewItem]:
    """Who the next run will remind, and about what; writes nothing."""
    pending, people = _pending(now or utcnow())
    items = [PreviewItem(people[d.person_id], d, d.essential or people[d.person_id].non_essential_reminders)
             for d in pending]
    return sorted(items, key=lambda i: (i.person.name.lower(), i.person.id, i.due.key))


# Recording and sending -------------------------------------------------------------------------------


def _take_write_lock() -> None:
    """On SQLite, start the transaction as a writer now, so a second scheduler waits for this one to commit
    and then finds everything recorded (SAVEPOINTs then nest inside a real transaction). PostgreSQL needs
    nothing: a second insert of the same key waits for the first transaction and then fails."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def _record(key: str, person_id: int, kind: str, now: datetime, skipped_reason: str | None) -> Reminder | None:
    """Insert the reminder inside a SAVEPOINT; None when its key is already taken (sent before, or by another
    scheduler at this moment)."""
    reminder = Reminder(key=key, person_id=person_id, kind=kind, essential=KINDS[kind].essential, created_at=now,
                        skipped_reason=skipped_reason)
    try:
        with db.session.begin_nested():
            db.session.add(reminder)
    except IntegrityError:
        return None
    return reminder


def _base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def queue_due_reminders(now: datetime | None = None, *, quiet_hours: bool = True) -> dict[str, int]:
    """Record every reminder due and queue one email per person carrying the ones sent. Returns how many of
    each kind were sent, ``skipped_opted_out``, ``already_recorded`` (taken by another run meanwhile) and
    ``emails``; at night (unless ``quiet_hours`` is False) only ``{"held_for_daytime": n}``. Does not commit."""
    now = now or utcnow()
    if quiet_hours and not is_daytime(now):
        pending, _people = _pending(now)
        return {"held_for_daytime": len(pending)}
    _take_write_lock()
    pending, people = _pending(now)
    counts = Counter({kind: 0 for kind in DUE_KINDS} | {"skipped_opted_out": 0, "already_recorded": 0, "emails": 0})
    by_person: dict[int, list[Due]] = defaultdict(list)
    for due in pending:
        by_person[due.person_id].append(due)
    for person_id, items in by_person.items():
        person = people[person_id]
        sent: list[tuple[Due, Reminder]] = []
        for due in items:
            skipped = None if due.essential or person.non_essential_reminders else OPTED_OUT
            reminder = _record(due.key, person_id, due.kind, now, skipped)
            if reminder is None:
                counts["already_recorded"] += 1
            elif skipped:
                counts["skipped_opted_out"] += 1
            else:
                sent.append((due, reminder))
                counts[due.kind] += 1
        if sent:
            email = outbox.queue_email(person.email, "reminders", "reminders", person=person,
                                       reminders=[due for due, _ in sent], base_url=_base_url())
            for _due, reminder in sent:
                reminder.email_id = email.id
            counts["emails"] += 1
    db.session.flush()
    return dict(counts)


# Weekly digests for coordinators ----------------------------------------------------------------------


@dataclass(frozen=True)
class DigestRecipient:
    person: Person
    organisation_ids: set[int] | None  # None: programme-wide
    intake_ids: frozenset[int]


@dataclass(frozen=True)
class DigestCounts:
    red_apprentices: int = 0
    amber_apprentices: int = 0
    red_enrolments: int = 0
    amber_enrolments: int = 0
    reviews_overdue: int = 0
    otj_entries_waiting: int = 0
    otj_hours_waiting: Decimal = Decimal("0")
    certificates_issued: int = 0

    @property
    def empty(self) -> bool:
        return not any((self.red_apprentices, self.amber_apprentices, self.red_enrolments, self.amber_enrolments,
                        self.reviews_overdue, self.otj_entries_waiting, self.certificates_issued))


def digest_recipients() -> list[DigestRecipient]:
    """Active coordinators (scoped to their organisations, or programme-wide) and anyone who coordinates an
    intake; admins who do neither get no digest."""
    intakes: dict[int, set[int]] = defaultdict(set)
    for intake_id, coordinator_id in db.session.execute(select(Intake.id, Intake.coordinator_id)):
        intakes[coordinator_id].add(intake_id)
    coordinator = exists().where(RoleGrant.person_id == Person.id, RoleGrant.role == Role.COORDINATOR)
    conditions = [coordinator] + ([Person.id.in_(sorted(intakes))] if intakes else [])
    people = db.session.scalars(
        select(Person).where(Person.active.is_(True), or_(*conditions)).order_by(Person.id)
        .options(selectinload(Person.role_grants))
    ).all()
    found = []
    for person in people:
        scope = person.coordinator_scope_ids if person.has_role(Role.COORDINATOR) else set()
        found.append(DigestRecipient(person, scope, frozenset(intakes.get(person.id, ()))))
    return found


def _apprenticeship_scope(recipient: DigestRecipient):
    if recipient.organisation_ids is None:
        return None
    conditions = []
    if recipient.organisation_ids:
        ids = sorted(recipient.organisation_ids)
        placed = select(Placement.apprenticeship_id).where(Placement.host_organisation_id.in_(ids))
        conditions.append(or_(Apprenticeship.employer_id.in_(ids), Apprenticeship.id.in_(placed)))
    if recipient.intake_ids:
        conditions.append(Apprenticeship.intake_id.in_(sorted(recipient.intake_ids)))
    return or_(*conditions) if conditions else false()


def _person_scope(recipient: DigestRecipient):
    if recipient.organisation_ids is None:
        return None
    if not recipient.organisation_ids:
        return false()
    return Person.organisation_id.in_(sorted(recipient.organisation_ids))


def _where(query, condition):
    return query if condition is None else query.where(condition)


_WORST = func.min(case((RiskFlag.rating == RiskRating.RED, 0), (RiskFlag.rating == RiskRating.AMBER, 1), else_=2))


def _ratings(worst_by_row) -> tuple[int, int]:
    counts = Counter(worst for _id, worst in worst_by_row)
    return counts.get(0, 0), counts.get(1, 0)


def digest_counts(recipient: DigestRecipient, now: datetime) -> DigestCounts:
    """What one coordinator's weekly digest says, limited to what they coordinate."""
    today = london_day(now)
    apprenticeships = _apprenticeship_scope(recipient)
    people = _person_scope(recipient)
    red_apprentices, amber_apprentices = _ratings(db.session.execute(_where(
        select(RiskFlag.apprenticeship_id, _WORST).join(Apprenticeship, RiskFlag.apprenticeship_id == Apprenticeship.id)
        .group_by(RiskFlag.apprenticeship_id), apprenticeships)))
    red_enrolments, amber_enrolments = _ratings(db.session.execute(_where(
        select(RiskFlag.enrolment_id, _WORST).join(Enrolment, RiskFlag.enrolment_id == Enrolment.id)
        .join(Person, Enrolment.person_id == Person.id).group_by(RiskFlag.enrolment_id), people)))
    overdue = db.session.scalar(_where(
        select(func.count(ProgressReview.id)).join(ProgressReview.apprenticeship)
        .where(ProgressReview.held_on.is_(None), ProgressReview.due_on < today,
               Apprenticeship.status == ApprenticeshipStatus.ACTIVE), apprenticeships))
    entries, minutes = db.session.execute(_where(
        select(func.count(OtjActivity.id), func.coalesce(func.sum(OtjActivity.minutes), 0))
        .join(Apprenticeship, OtjActivity.apprenticeship_id == Apprenticeship.id)
        .where(OtjActivity.status == OtjStatus.SUBMITTED), apprenticeships)).one()
    issued = select(func.count(Certificate.id)).where(Certificate.version == 1,
                                                      Certificate.issued_at >= now - timedelta(days=7))
    if apprenticeships is not None:
        scoped = select(Apprenticeship.id).where(apprenticeships)
        held_by = select(Person.id).where(people)
        issued = issued.where(or_(Certificate.apprenticeship_id.in_(scoped),
                                  and_(Certificate.enrolment_id.is_not(None), Certificate.holder_id.in_(held_by))))
    return DigestCounts(red_apprentices, amber_apprentices, red_enrolments, amber_enrolments, int(overdue or 0),
                        int(entries or 0), (Decimal(int(minutes or 0)) / 60).quantize(Decimal("0.1")),
                        int(db.session.scalar(issued) or 0))


def digest_key(person_id: int, now: datetime) -> str:
    return f"digest:{person_id}:{iso_week(now)}"


def queue_weekly_digests(now: datetime | None = None, *, quiet_hours: bool = True) -> dict[str, int]:
    """One weekly digest email to each coordinator, at most once per ISO week (London). Empty digests are not
    sent. Returns ``digests``, ``empty``, ``skipped_opted_out``, ``already_recorded`` and ``emails``; at night
    (unless ``quiet_hours`` is False) only ``{"held_for_daytime": n}``. Does not commit."""
    now = now or utcnow()
    if quiet_hours and not is_daytime(now):
        recipients = digest_recipients()
        recorded = _recorded_keys(digest_key(r.person.id, now) for r in recipients)
        return {"held_for_daytime": sum(digest_key(r.person.id, now) not in recorded for r in recipients)}
    _take_write_lock()
    recipients = digest_recipients()
    recorded = _recorded_keys(digest_key(r.person.id, now) for r in recipients)
    counts = Counter({"digests": 0, "empty": 0, "skipped_opted_out": 0, "already_recorded": 0, "emails": 0})
    for recipient in recipients:
        person = recipient.person
        key = digest_key(person.id, now)
        if key in recorded:
            continue
        figures = digest_counts(recipient, now)
        if figures.empty:
            counts["empty"] += 1
            continue
        skipped = None if person.non_essential_reminders else OPTED_OUT
        reminder = _record(key, person.id, DIGEST_KIND, now, skipped)
        if reminder is None:
            counts["already_recorded"] += 1
        elif skipped:
            counts["skipped_opted_out"] += 1
        else:
            email = outbox.queue_email(person.email, "weekly_digest", "weekly_digest", person=person,
                                       counts=figures, week_ending=london_day(now), base_url=_base_url(),
                                       programme_wide=recipient.organisation_ids is None)
            reminder.email_id = email.id
            counts["digests"] += 1
            counts["emails"] += 1
    db.session.flush()
    return dict(counts)


# The person's choice ----------------------------------------------------------------------------------


def set_non_essential_reminders(actor: Person, person: Person, receive: bool) -> bool:
    """Record whether ``person`` receives non-essential reminders; audited. Returns whether it changed."""
    if person.non_essential_reminders == receive:
        return False
    person.non_essential_reminders = receive
    audit.record(actor, "reminders.preference_changed", person,
                 f"{person.name} {'now receives' if receive else 'opted out of'} non-essential reminders",
                 non_essential_reminders=receive)
    db.session.flush()
    return True


def sent_reminders_query():
    """Reminders already recorded, newest first (for the admin page, which pages through them)."""
    return select(Reminder).order_by(Reminder.id.desc())


def people_by_id(person_ids: Iterable[int]) -> dict[int, Person]:
    ids = sorted(set(person_ids))
    return {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(ids)))} if ids else {}
