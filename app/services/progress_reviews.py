"""Progress reviews: scheduled at the rule set's interval, recorded, and signed by all three parties."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, bindparam, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    KsbProgressLevel,
    OtjActivity,
    OtjStatus,
    Person,
    Placement,
    ProgressReview,
    Rag,
    ReviewKsbProgress,
    ReviewSignature,
    SigningParty,
    StandardVersion,
)
from app.models.types import utcnow
from app.services import ServiceError, apprenticeship_rules, audit, clock, otj_totals


def schedule_reviews(apprenticeship: Apprenticeship) -> list[ProgressReview]:
    """Make the review schedule match the apprenticeship's dates: add the reviews due by the planned end
    at the rule set's interval, and drop scheduled ones that fall after it. Reviews already held are kept
    as they are; so this is safe to run again after the dates change."""
    rule_set = apprenticeship_rules.RULE_SETS_BY_KEY[apprenticeship.rule_set]
    dues = apprenticeship_rules.review_due_dates(rule_set, apprenticeship.starts_on, apprenticeship.planned_end_on)
    existing = list(db.session.scalars(
        select(ProgressReview).where(ProgressReview.apprenticeship_id == apprenticeship.id)
        .order_by(ProgressReview.sequence)
    ))
    held = [r for r in existing if r.held_on is not None or r.signatures]
    pending = [r for r in existing if r not in held]
    for review in pending:
        db.session.delete(review)
    db.session.flush()
    last_held_due = max((r.due_on for r in held), default=None)
    sequence = max((r.sequence for r in held), default=0)
    created = []
    for due in dues:
        if last_held_due is not None and due <= last_held_due:
            continue
        sequence += 1
        review = ProgressReview(apprenticeship_id=apprenticeship.id, sequence=sequence, due_on=due)
        db.session.add(review)
        created.append(review)
    db.session.flush()
    return created


# Recording -------------------------------------------------------------------------------------

LOCKED_MESSAGE = "This review has been signed, so it can no longer be changed"
DUE_SOON_DAYS = 14
TEXT_LIMIT = 5000
# "as the apprentice", and who is still to sign: "the apprentice, the employer and a coordinator".
AS_PARTY = {party: f"as the {party.value}" for party in SigningParty}
WHO_SIGNS = {
    SigningParty.APPRENTICE: "the apprentice",
    SigningParty.EMPLOYER: "the employer",
    SigningParty.COORDINATOR: "a coordinator",
}


def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def placement_in_force(apprenticeship: Apprenticeship, day: date) -> Placement | None:
    return _in_force(apprenticeship.placements, day)


def _in_force(placements, day: date):
    return next((p for p in placements if p.starts_on <= day <= p.ends_on), None)


def employer_placement(apprenticeship: Apprenticeship, day: date) -> Placement | None:
    """The placement whose supervisor signs as the employer for a review held on ``day``: the one in force
    that day or, in a gap between placements, the latest one that had started by then."""
    return _employer_placement_among(apprenticeship.placements, day)


def _employer_placement_among(placements, day: date):
    """:func:`employer_placement` among ``placements`` in order of their start (rows or records)."""
    in_force = _in_force(placements, day)
    if in_force is not None:
        return in_force
    started = [p for p in placements if p.starts_on <= day]
    return max(started, key=lambda p: p.starts_on, default=None)


def may_record(person: Person, review: ProgressReview) -> bool:
    """Whether to offer ``person`` the form: a coordinator of the record, or the supervisor of the placement
    in force today or on the day the review is due (the date they give must then fall in their placement)."""
    apprenticeship = review.apprenticeship
    if not person.is_authenticated or apprenticeship.apprentice_id == person.id:
        return False
    if policy.can_edit_apprenticeship(person, apprenticeship):
        return True
    days = {clock.today(), review.due_on} | ({review.held_on} if review.held_on else set())
    return any((p := placement_in_force(apprenticeship, day)) is not None and p.supervisor_id == person.id
               for day in days)


def previous_review(review: ProgressReview) -> ProgressReview | None:
    """The last review recorded before this one in the schedule."""
    return db.session.scalar(
        select(ProgressReview)
        .where(ProgressReview.apprenticeship_id == review.apprenticeship_id,
               ProgressReview.sequence < review.sequence, ProgressReview.held_on.is_not(None))
        .order_by(ProgressReview.sequence.desc()).limit(1)
        .options(selectinload(ProgressReview.ksb_progress))
    )


def otj_snapshot(apprenticeship: Apprenticeship, day: date) -> tuple[Decimal, Decimal]:
    """Approved off-the-job hours dated on or before ``day``, and the pro rata hours expected by then."""
    minutes = db.session.scalar(
        select(func.coalesce(func.sum(OtjActivity.minutes), 0)).where(
            OtjActivity.apprenticeship_id == apprenticeship.id, OtjActivity.status == OtjStatus.APPROVED,
            OtjActivity.occurred_on <= day)
    )
    approved = (Decimal(minutes or 0) / 60).quantize(otj_totals.TWO_PLACES)
    return approved, otj_totals.expected_hours(apprenticeship, day)


def _check_held_on(actor: Person, apprenticeship: Apprenticeship, held_on: date | None) -> None:
    if held_on is None:
        raise ServiceError("Enter the date the review was held", "held_on")
    if held_on > clock.today():
        raise ServiceError("The date the review was held must be today or in the past", "held_on")
    if held_on < apprenticeship.starts_on:
        raise ServiceError(f"The date the review was held must be on or after the start of the apprenticeship, "
                           f"{_day(apprenticeship.starts_on)}", "held_on")
    if apprenticeship.actual_end_on and held_on > apprenticeship.actual_end_on:
        raise ServiceError(f"The date the review was held must be on or before the end of the apprenticeship, "
                           f"{_day(apprenticeship.actual_end_on)}", "held_on")
    if policy.can_edit_apprenticeship(actor, apprenticeship):
        return
    placement = placement_in_force(apprenticeship, held_on)
    if placement is None or placement.supervisor_id != actor.id:
        raise ServiceError("You can record a review only if it was held during your placement with the "
                           "apprentice; otherwise ask a coordinator", "held_on")


def _levels(apprenticeship: Apprenticeship, ksb_progress: dict) -> dict[int, KsbProgressLevel]:
    ksbs = apprenticeship.standard_version.ksbs
    known = {k.id for k in ksbs}
    given = {int(ksb_id): level for ksb_id, level in ksb_progress.items() if level}
    if set(given) - known:
        raise ServiceError("Progress can be given only for the KSBs of the apprentice's standard", "ksb_progress")
    missing = [k.code for k in ksbs if k.id not in given]
    if missing:
        raise ServiceError(f"Select the progress on every KSB: {', '.join(missing)} still need a level",
                           "ksb_progress")
    try:
        return {ksb_id: KsbProgressLevel(level) for ksb_id, level in given.items()}
    except ValueError:
        raise ServiceError("Select a level of progress from the list for every KSB", "ksb_progress") from None


def record_review(actor: Person, review: ProgressReview, *, held_on: date | None, rag: Rag | str | None,
                  previous_actions: str | None, concerns: str | None, actions: str | None,
                  ksb_progress: dict) -> ProgressReview:
    """Record what was said at a review, with the off-the-job hours approved and expected on the day it was
    held. It can be corrected until somebody signs it."""
    apprenticeship = review.apprenticeship
    if not may_record(actor, review):
        raise ServiceError("Only a coordinator or the apprentice's supervisor can record a progress review")
    if review.signatures:
        raise ServiceError(LOCKED_MESSAGE)
    _check_held_on(actor, apprenticeship, held_on)
    if not rag:
        raise ServiceError("Select a RAG rating", "rag")
    try:
        rag = Rag(rag)
    except ValueError:
        raise ServiceError("Select a RAG rating: red, amber or green", "rag") from None
    if not (actions or "").strip():
        raise ServiceError("Enter the actions agreed for before the next review", "actions")
    texts = {"previous_actions": previous_actions, "concerns": concerns, "actions": actions}
    for field, text in texts.items():
        if text and len(text) > TEXT_LIMIT:
            raise ServiceError(f"Keep this to {TEXT_LIMIT:,} characters or fewer", field)
    levels = _levels(apprenticeship, ksb_progress)

    first_time = review.held_on is None
    review.held_on = held_on
    review.rag = rag
    review.previous_actions, review.concerns, review.actions = (
        (text or "").strip() or None for text in texts.values())
    review.otj_hours_approved, review.otj_hours_expected = otj_snapshot(apprenticeship, held_on)
    review.recorded_by_id = actor.id
    review.recorded_at = utcnow()
    existing = {p.ksb_id: p for p in review.ksb_progress}
    for ksb_id, level in levels.items():
        if ksb_id in existing:
            existing[ksb_id].level = level
        else:
            review.ksb_progress.append(ReviewKsbProgress(ksb_id=ksb_id, level=level))
    db.session.flush()
    audit.record(actor, "progress_review.recorded" if first_time else "progress_review.corrected", review,
                 f"{'Recorded' if first_time else 'Corrected'} review {review.sequence} of "
                 f"{apprenticeship.apprentice.name}, held on {_day(held_on)} ({rag.label})",
                 apprenticeship_id=apprenticeship.id, held_on=held_on.isoformat(), rag=rag.value)
    return review


# Signing ---------------------------------------------------------------------------------------


def _signature(review: ProgressReview, party: SigningParty) -> ReviewSignature | None:
    return next((s for s in review.signatures if s.party is party), None)


def _refusal(person: Person, review: ProgressReview, party: SigningParty) -> str | None:
    """Why ``person`` may not sign ``review`` as ``party`` now; None when they may."""
    apprenticeship = review.apprenticeship
    if review.held_on is None:
        return "This review has not been recorded yet, so it cannot be signed"
    done = _signature(review, party)
    if done is not None:
        who = "You have" if done.person_id == person.id else f"{done.person.name} has"
        return f"{who} already signed this review {AS_PARTY[party]}"
    other = next((s for s in review.signatures if s.person_id == person.id), None)
    if other is not None:
        return (f"You have already signed this review {AS_PARTY[other.party]}: "
                f"someone else must sign {AS_PARTY[party]}")
    if party is SigningParty.APPRENTICE:
        if apprenticeship.apprentice_id != person.id:
            return f"Only the apprentice, {apprenticeship.apprentice.name}, can sign as the apprentice"
    elif party is SigningParty.EMPLOYER:
        placement = employer_placement(apprenticeship, review.held_on)
        if placement is None:
            return (f"No placement had started by {_day(review.held_on)}, so nobody can sign as the employer: "
                    "ask a coordinator to correct the placements or the date of the review")
        if placement.supervisor_id != person.id:
            return (f"Only {placement.supervisor.name}, who supervised the apprentice on {_day(review.held_on)}, "
                    "can sign as the employer")
    elif apprenticeship.apprentice_id == person.id or not policy.can_edit_apprenticeship(person, apprenticeship):
        return "Only a coordinator of this apprenticeship can sign as the coordinator"
    return None


def parties_for(person: Person, review: ProgressReview) -> list[SigningParty]:
    """The parties ``person`` may sign ``review`` as, now."""
    if not person.is_authenticated:
        return []
    return [party for party in SigningParty if _refusal(person, review, party) is None]


def sign(actor: Person, review: ProgressReview, party: SigningParty | str) -> ReviewSignature:
    """A timestamped confirmation by ``actor`` for one party. The third signature completes the review."""
    try:
        party = SigningParty(party)
    except ValueError:
        raise ServiceError("Choose who you are signing as", "party") from None
    refusal = _refusal(actor, review, party)
    if refusal:
        raise ServiceError(refusal, "party")
    signature = ReviewSignature(party=party, person_id=actor.id, signed_at=utcnow())
    review.signatures.append(signature)
    try:
        db.session.flush()
    except IntegrityError:
        # Someone signed for the same party a moment ago.
        db.session.rollback()
        raise ServiceError("This review has just been signed for that party by someone else", "party") from None
    apprentice = review.apprenticeship.apprentice
    audit.record(actor, "progress_review.signed", review,
                 f"Signed review {review.sequence} of {apprentice.name} {AS_PARTY[party]}",
                 apprenticeship_id=review.apprenticeship_id, party=party.value)
    if {s.party for s in review.signatures} == set(SigningParty):
        review.completed_at = signature.signed_at
        audit.record(actor, "progress_review.completed", review,
                     f"Review {review.sequence} of {apprentice.name} is complete: all three have signed",
                     apprenticeship_id=review.apprenticeship_id)
    db.session.flush()
    return signature


# States and lists ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewState:
    key: str  # scheduled, due_soon, overdue, not_held, awaiting_signatures, complete
    label: str
    colour: str  # a GOV.UK tag colour; the label always carries the meaning
    waiting_for: tuple[SigningParty, ...] = ()


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def review_state(review: ProgressReview, today: date | None = None) -> ReviewState:
    today = today or clock.today()
    if review.completed_at is not None:
        return ReviewState("complete", "Complete", "green")
    if review.held_on is not None:
        signed = {s.party for s in review.signatures}
        waiting = tuple(p for p in SigningParty if p not in signed)
        if len(waiting) == 1:
            label = f"Awaiting {WHO_SIGNS[waiting[0]]}'s signature"
        else:
            label = f"Awaiting signatures from {_and_list([WHO_SIGNS[p] for p in waiting])}"
        return ReviewState("awaiting_signatures", label, "blue", waiting)
    end = review.apprenticeship.actual_end_on
    if end is not None and review.due_on > end:
        return ReviewState("not_held", "Not held: the apprenticeship had ended", "grey")
    if review.due_on < today:
        return ReviewState("overdue", "Overdue", "red")
    if (review.due_on - today).days <= DUE_SOON_DAYS:
        return ReviewState("due_soon", "Due soon", "yellow")
    return ReviewState("scheduled", "Scheduled", "grey")


def reviews_for(apprenticeship: Apprenticeship) -> list[ProgressReview]:
    """Every review of an apprenticeship with its signatures and signers, in two queries."""
    return list(db.session.scalars(
        select(ProgressReview).where(ProgressReview.apprenticeship_id == apprenticeship.id)
        .order_by(ProgressReview.sequence)
        .options(selectinload(ProgressReview.signatures).joinedload(ReviewSignature.person))
    ))


def load_review(apprenticeship: Apprenticeship, review_id: int) -> ProgressReview | None:
    """One review of this apprenticeship with what its page shows; None if it belongs to another."""
    return db.session.scalar(
        select(ProgressReview)
        .where(ProgressReview.id == review_id, ProgressReview.apprenticeship_id == apprenticeship.id)
        .options(selectinload(ProgressReview.signatures).joinedload(ReviewSignature.person),
                 selectinload(ProgressReview.ksb_progress), joinedload(ProgressReview.recorded_by))
    )


@dataclass(frozen=True)
class ReviewToSign:
    review: ProgressReview
    parties: list[SigningParty]


def _unsigned(party: SigningParty):
    return ~select(ReviewSignature.id).where(
        ReviewSignature.review_id == ProgressReview.id, ReviewSignature.party == party).exists()


def _to_sign_conditions(who, *, coordinator: bool, scope=None, joined: bool = True) -> dict:
    """For each party the person ``who`` (an id, or a bind parameter) might sign as, a condition on a review
    and its apprenticeship that the signature is missing and they may be the one to give it (for the employer,
    a prefilter of :func:`employer_placement`: they supervised a placement that had started by the review and
    may be the one on the day). ``scope`` is a coordinator's (``policy.apprenticeship_scope_filter``). Unless
    ``joined`` (the query joins the apprenticeship), the apprentice's is a condition on the review alone."""
    # A placement that had ended by the review, with another started since, is never the employer's then.
    later = aliased(Placement)
    superseded = and_(Placement.ends_on < ProgressReview.held_on, select(later.id).where(
        later.apprenticeship_id == Placement.apprenticeship_id, later.starts_on > Placement.starts_on,
        later.starts_on <= ProgressReview.held_on).correlate(Placement, ProgressReview).exists())
    supervised = select(Placement.id).where(
        Placement.apprenticeship_id == ProgressReview.apprenticeship_id, Placement.supervisor_id == who,
        Placement.starts_on <= ProgressReview.held_on, ~superseded).exists()
    conditions = {
        SigningParty.APPRENTICE: and_(
            Apprenticeship.apprentice_id == who if joined else ProgressReview.apprenticeship_id.in_(
                select(Apprenticeship.id).where(Apprenticeship.apprentice_id == who)),
            _unsigned(SigningParty.APPRENTICE)),
        SigningParty.EMPLOYER: and_(supervised, _unsigned(SigningParty.EMPLOYER)),
    }
    if coordinator:
        as_coordinator = and_(Apprenticeship.apprentice_id != who, _unsigned(SigningParty.COORDINATOR))
        conditions[SigningParty.COORDINATOR] = as_coordinator if scope is None else and_(as_coordinator, scope)
    return conditions


def _to_sign_query(who, conditions: dict, *columns, coordinator: bool, joined: bool = True):
    """Recorded, unfinished reviews meeting any of ``conditions``, oldest first."""
    query = select(*columns).select_from(ProgressReview)
    if joined:
        query = query.join(ProgressReview.apprenticeship)
    query = query.where(ProgressReview.held_on.is_not(None), ProgressReview.completed_at.is_(None),
                        or_(*conditions.values()))
    if not coordinator:
        # Start from this person's own apprenticeships and placements (both indexed) rather than from
        # every unsigned review in the programme.
        own = select(Apprenticeship.id).where(Apprenticeship.apprentice_id == who).union(
            select(Placement.apprenticeship_id).where(Placement.supervisor_id == who))
        query = query.where(ProgressReview.apprenticeship_id.in_(own))
    return query.order_by(ProgressReview.held_on, ProgressReview.id)


def _coordinating(person: Person) -> dict:
    coordinator = policy.is_coordinator(person)
    return {"coordinator": coordinator, "scope": policy.apprenticeship_scope_filter(person) if coordinator else None}


def reviews_to_sign(person: Person, *, limit: int | None = None) -> list[ReviewToSign]:
    """Recorded reviews waiting for ``person``'s signature as the apprentice, the employer (the supervisor
    of the placement on the day) or a coordinator, oldest first, in a fixed number of queries. Admins may
    sign as the coordinator but are not asked to: only people with the coordinator role are."""
    if not person.is_authenticated:
        return []
    coordinating = _coordinating(person)
    conditions = _to_sign_conditions(person.id, **coordinating)
    query = _to_sign_query(person.id, conditions, ProgressReview, coordinator=coordinating["coordinator"]).options(
        contains_eager(ProgressReview.apprenticeship).options(
            selectinload(Apprenticeship.placements).joinedload(Placement.supervisor),
            joinedload(Apprenticeship.apprentice),
            joinedload(Apprenticeship.standard_version).joinedload(StandardVersion.standard)),
        selectinload(ProgressReview.signatures).joinedload(ReviewSignature.person),
    )
    if limit:
        query = query.limit(limit)
    found = []
    for review in db.session.scalars(query).unique():
        parties = [p for p in parties_for(person, review)
                   if p is not SigningParty.COORDINATOR or policy.is_coordinator(person)]
        if parties:
            found.append(ReviewToSign(review, parties))
    return found


@dataclass(frozen=True)
class ReviewWaiting:
    """A review waiting for a person's signature, as a link to it or a count needs it."""

    review_id: int
    apprenticeship_id: int
    sequence: int
    parties: list[SigningParty]


def _waiting_query(who, *, coordinator: bool, scope=None):
    # Only a coordinator's conditions need the apprenticeship joined (its employer, its apprentice not them):
    # without it PostgreSQL plans from the person's own few records.
    joined = coordinator
    conditions = _to_sign_conditions(who, coordinator=coordinator, scope=scope, joined=joined)
    # Someone who signed a review as any party signs it no more.
    signed_already = select(ReviewSignature.id).where(
        ReviewSignature.review_id == ProgressReview.id, ReviewSignature.person_id == who).exists()
    return _to_sign_query(
        who, conditions, ProgressReview.id, ProgressReview.apprenticeship_id, ProgressReview.sequence,
        ProgressReview.held_on, signed_already.label("signed_already"),
        *(condition.label(party.value) for party, condition in conditions.items()), coordinator=coordinator,
        joined=joined)


@functools.cache
def _waiting_for_others():
    """:func:`_waiting_query` for everyone but coordinators (whose scope differs), for ``:person_id``; built
    once, as building it costs more than running it."""
    return _waiting_query(bindparam("person_id"), coordinator=False)


@functools.cache
def _placements_of():
    """The placements of the apprenticeships ``:apprenticeship_ids``, in order of their start."""
    return (
        select(Placement.apprenticeship_id, Placement.starts_on, Placement.ends_on, Placement.supervisor_id)
        .where(Placement.apprenticeship_id.in_(bindparam("apprenticeship_ids", expanding=True)))
        .order_by(Placement.starts_on, Placement.id)
    )


def reviews_waiting_for(person: Person) -> list[ReviewWaiting]:
    """What :func:`reviews_to_sign` lists, without loading the reviews and their records: the rules of
    ``_refusal`` read as columns, and only the placements of records ``person`` may sign for as the employer
    (to find the placement on the day). One query, or two for someone who supervised a placement."""
    if not person.is_authenticated:
        return []
    coordinating = _coordinating(person)
    if coordinating["coordinator"]:
        rows = db.session.execute(_waiting_query(person.id, **coordinating)).all()
    else:
        rows = db.session.execute(_waiting_for_others(), {"person_id": person.id}).all()
    parties_asked = [party for party in SigningParty
                     if party is not SigningParty.COORDINATOR or coordinating["coordinator"]]
    as_employer = {row.apprenticeship_id for row in rows if row.employer and not row.signed_already}
    placements: dict[int, list] = {i: [] for i in as_employer}
    if as_employer:
        for placement in db.session.execute(_placements_of(), {"apprenticeship_ids": list(as_employer)}):
            placements[placement.apprenticeship_id].append(placement)
    found = []
    for row in rows:
        if row.signed_already:
            continue
        parties = []
        for party in parties_asked:
            if not row._mapping[party.value]:
                continue
            if party is SigningParty.EMPLOYER:
                placement = _employer_placement_among(placements[row.apprenticeship_id], row.held_on)
                if placement is None or placement.supervisor_id != person.id:
                    continue
            parties.append(party)
        if parties:
            found.append(ReviewWaiting(row.id, row.apprenticeship_id, row.sequence, parties))
    return found


def overdue_reviews_query(scope=None, *, today: date | None = None):
    """Reviews past their due date and not yet held, of active apprenticeships, oldest first. ``scope`` is a
    condition on ``Apprenticeship`` (``policy.apprenticeship_scope_filter(person)``); None for all."""
    today = today or clock.today()
    query = (
        select(ProgressReview).join(ProgressReview.apprenticeship)
        .where(ProgressReview.held_on.is_(None), ProgressReview.due_on < today,
               Apprenticeship.status == ApprenticeshipStatus.ACTIVE)
        .order_by(ProgressReview.due_on, ProgressReview.id)
        .options(contains_eager(ProgressReview.apprenticeship).joinedload(Apprenticeship.apprentice))
    )
    return query if scope is None else query.where(scope)


def overdue_reviews(scope=None, *, today: date | None = None, limit: int | None = None) -> list[ProgressReview]:
    query = overdue_reviews_query(scope, today=today)
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def unsigned_reviews_query(scope=None):
    """Recorded reviews still waiting for a signature, oldest first; ``scope`` as for overdue reviews."""
    query = (
        select(ProgressReview).join(ProgressReview.apprenticeship)
        .where(ProgressReview.held_on.is_not(None), ProgressReview.completed_at.is_(None))
        .order_by(ProgressReview.held_on, ProgressReview.id)
        .options(contains_eager(ProgressReview.apprenticeship).joinedload(Apprenticeship.apprentice),
                 selectinload(ProgressReview.signatures))
    )
    return query if scope is None else query.where(scope)


@dataclass(frozen=True)
class ReviewFlags:
    overdue: int = 0
    unsigned: int = 0


def review_flags_by_apprenticeship(apprenticeship_ids, *, today: date | None = None) -> dict[int, ReviewFlags]:
    """For list pages: how many reviews each apprenticeship has overdue and waiting for signatures, in one
    query."""
    ids = list(apprenticeship_ids)
    if not ids:
        return {}
    today = today or clock.today()
    overdue = and_(ProgressReview.held_on.is_(None), ProgressReview.due_on < today)
    unsigned = and_(ProgressReview.held_on.is_not(None), ProgressReview.completed_at.is_(None))
    rows = db.session.execute(
        select(ProgressReview.apprenticeship_id,
               func.sum(case((overdue, 1), else_=0)), func.sum(case((unsigned, 1), else_=0)))
        .where(ProgressReview.apprenticeship_id.in_(ids))
        .group_by(ProgressReview.apprenticeship_id)
    ).all()
    found = {aid: ReviewFlags(int(o or 0), int(u or 0)) for aid, o, u in rows}
    return {aid: found.get(aid, ReviewFlags()) for aid in ids}


@dataclass(frozen=True)
class SignatureRow:
    party: SigningParty
    signature: ReviewSignature | None
    # Who is to sign, in words: the apprentice's or the supervisor's name, or "A coordinator".
    signer: str


def signature_rows(review: ProgressReview) -> list[SignatureRow]:
    """One row per party: who signed and when, or who is still to sign."""
    apprenticeship = review.apprenticeship
    placement = employer_placement(apprenticeship, review.held_on) if review.held_on else None
    expected = {
        SigningParty.APPRENTICE: apprenticeship.apprentice.name,
        SigningParty.EMPLOYER: placement.supervisor.name if placement else "The supervisor on the day of the review",
        SigningParty.COORDINATOR: "A coordinator of the apprenticeship",
    }
    rows = []
    for party in SigningParty:
        signature = _signature(review, party)
        rows.append(SignatureRow(party, signature, signature.person.name if signature else expected[party]))
    return rows
