"""Apprenticeship records: adding and correcting them, their lifecycle, and finding them.

The rule set is chosen by the start date (see ``apprenticeship_rules``); it gives the minimum practical
period and the planned off-the-job hours. Planned hours are fixed at the start and changed only to
correct an error, with a reason. Every status change is kept (who, when, why, from which date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import selectinload

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    BreakInLearning,
    EnglishMaths,
    Intake,
    Organisation,
    OtjActivity,
    OtjStatus,
    Person,
    Placement,
    ProgressReview,
    Role,
    RoleGrant,
    Standard,
    StandardVersion,
    StatusChange,
    Team,
)
from app.models.types import utcnow
from app.services import ServiceError, apprenticeship_rules, audit, certificates, clock, progress_reviews, review_rows
from app.services.apprenticeship_rules import RuleError
from app.services.progress_reviews import schedule_reviews

PAGE_SIZE = 25
MAX_WEEKLY_HOURS = Decimal(48)
# Withdrawn within this many days of the start, an apprenticeship does not count as a start.
NOT_A_START_DAYS = 42

S = ApprenticeshipStatus
IN_PROGRESS = (S.ACTIVE, S.BREAK_IN_LEARNING, S.GATEWAY, S.END_POINT_ASSESSMENT)

# The lifecycle: every change not listed here is refused with an explanation.
TRANSITIONS: dict[ApprenticeshipStatus, tuple[ApprenticeshipStatus, ...]] = {
    S.ACTIVE: (S.BREAK_IN_LEARNING, S.GATEWAY, S.WITHDRAWN),
    S.BREAK_IN_LEARNING: (S.ACTIVE, S.WITHDRAWN),
    S.GATEWAY: (S.END_POINT_ASSESSMENT, S.ACTIVE),
    S.END_POINT_ASSESSMENT: (S.COMPLETED,),
    S.WITHDRAWN: (),
    S.COMPLETED: (),
}

# "An apprenticeship that is ..." for explanations.
_SUBJECT = {
    S.ACTIVE: "An active apprenticeship",
    S.BREAK_IN_LEARNING: "An apprenticeship on a break in learning",
    S.WITHDRAWN: "A withdrawn apprenticeship",
    S.GATEWAY: "An apprenticeship at gateway",
    S.END_POINT_ASSESSMENT: "An apprenticeship in end-point assessment",
    S.COMPLETED: "A completed apprenticeship",
}
_BECOME = {
    S.ACTIVE: "go back to active learning",
    S.BREAK_IN_LEARNING: "start a break in learning",
    S.WITHDRAWN: "be withdrawn",
    S.GATEWAY: "move to gateway",
    S.END_POINT_ASSESSMENT: "start end-point assessment",
    S.COMPLETED: "be completed",
}
_WHY_NOT = {
    (S.ACTIVE, S.END_POINT_ASSESSMENT): "gateway comes first",
    (S.ACTIVE, S.COMPLETED): "gateway and end-point assessment come first",
    (S.BREAK_IN_LEARNING, S.GATEWAY): "the apprentice returns from the break first",
    (S.BREAK_IN_LEARNING, S.END_POINT_ASSESSMENT): "the apprentice returns from the break first",
    (S.BREAK_IN_LEARNING, S.COMPLETED): "the apprentice returns from the break first",
    (S.GATEWAY, S.COMPLETED): "end-point assessment comes first",
    (S.GATEWAY, S.BREAK_IN_LEARNING): "go back to learning first",
    (S.GATEWAY, S.WITHDRAWN): "go back to learning first",
}


# Adding and correcting a record ----------------------------------------------------------------------


def create_apprenticeship(
    actor: Person | None, *, apprentice: Person, standard_version: StandardVersion, employer: Organisation,
    training_provider: str, starts_on: date, planned_end_on: date, weekly_hours, intake: Intake | None = None,
    english_maths: EnglishMaths, english_maths_note: str | None = None, prior_learning_hours: int = 0,
    otj_override_hours: int | None = None, otj_override_reason: str | None = None,
) -> Apprenticeship:
    """Start an apprenticeship: the rule set of its start date gives the minimum period and the planned
    off-the-job hours; progress reviews are scheduled at the rule set's interval."""
    if apprentice is None:
        raise ServiceError("Select the apprentice", field="apprentice")
    if not apprentice.has_role(Role.APPRENTICE):
        raise ServiceError(f"{apprentice.name} does not have the apprentice role: give them the role first",
                           field="apprentice")
    if not apprentice.active:
        raise ServiceError(f"{apprentice.name}'s account is deactivated", field="apprentice")
    ongoing = db.session.scalar(select(Apprenticeship).where(
        Apprenticeship.apprentice_id == apprentice.id, Apprenticeship.status.in_(IN_PROGRESS)).limit(1))
    if ongoing is not None:
        raise ServiceError(f"{apprentice.name} already has an apprenticeship in progress "
                           f"({ongoing.status.label.lower()}); finish or withdraw it first", field="apprentice")
    if standard_version is None:
        raise ServiceError("Select the standard", field="standard_version")
    _check_employer(actor, employer)
    training_provider = _training_provider(training_provider)
    weekly_hours = _weekly_hours(weekly_hours)
    _check_dates(starts_on, planned_end_on)
    prior_learning_hours = _prior_learning(prior_learning_hours)
    rule_set, by_rule = _plan(standard_version, starts_on, planned_end_on, weekly_hours, prior_learning_hours)
    english_maths, english_maths_note = _english_maths(english_maths, english_maths_note)
    applied, override_reason = by_rule, None
    if otj_override_hours is not None and otj_override_hours != by_rule:
        _check_planned_hours(otj_override_hours, rule_set, field="otj_override_hours")
        override_reason = (otj_override_reason or "").strip()
        if not override_reason:
            raise ServiceError(f"Enter the reason for planning {otj_override_hours} hours instead of the "
                               f"{by_rule} the rules give, for example recognised prior learning",
                               field="otj_override_reason")
        applied = otj_override_hours

    apprenticeship = Apprenticeship(
        apprentice_id=apprentice.id, apprentice=apprentice, standard_version=standard_version, employer=employer,
        intake=intake, training_provider=training_provider, starts_on=starts_on, planned_end_on=planned_end_on,
        weekly_hours=weekly_hours, rule_set=rule_set.key, planned_otj_hours_by_rule=by_rule,
        planned_otj_hours=applied, otj_override_reason=override_reason, english_maths=english_maths,
        english_maths_note=english_maths_note, status=S.ACTIVE, status_changed_at=utcnow(),
    )
    db.session.add(apprenticeship)
    apprenticeship.status_changes.append(StatusChange(
        from_status=None, to_status=S.ACTIVE, effective_on=starts_on, reason="Apprenticeship started",
        changed_by_id=_id(actor)))
    db.session.flush()
    schedule_reviews(apprenticeship)
    audit.record(actor, "apprenticeship.created", apprenticeship,
                 f"Added {apprentice.name}'s apprenticeship: {standard_version.label}, from {starts_on:%-d %B %Y}",
                 rule_set=rule_set.key, planned_otj_hours_by_rule=by_rule, planned_otj_hours=applied,
                 prior_learning_hours=prior_learning_hours, otj_override_reason=override_reason)
    review_rows.refresh_for([apprenticeship.id])
    return apprenticeship


EDITABLE = frozenset({
    "employer", "training_provider", "intake", "starts_on", "planned_end_on", "weekly_hours", "english_maths",
    "english_maths_note", "prior_learning_hours", "planned_otj_hours", "otj_change_reason",
})


def update_apprenticeship(actor: Person | None, a: Apprenticeship, **changes) -> Apprenticeship:
    """Correct a record. New dates or hours recompute the rule set's figure and the review schedule.
    ``planned_otj_hours`` is the figure to apply (None: the rule set's); any change to the applied figure
    needs ``otj_change_reason``, since planned hours are fixed at the start and changed only to correct
    an error. ``prior_learning_hours`` defaults to what the record was planned with."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise TypeError(f"cannot change {', '.join(sorted(unknown))}")
    before = _snapshot(a)
    employer = changes.get("employer", a.employer)
    if employer is None or employer.id != a.employer_id:
        _check_employer(actor, employer)
    training_provider = _training_provider(changes.get("training_provider", a.training_provider))
    weekly_hours = _weekly_hours(changes.get("weekly_hours", a.weekly_hours))
    starts_on = changes.get("starts_on", a.starts_on)
    planned_end_on = changes.get("planned_end_on", a.planned_end_on)
    _check_dates(starts_on, planned_end_on)
    _check_records_inside(a, starts_on, planned_end_on)
    prior = changes.get("prior_learning_hours")
    prior = _prior_learning(recorded_prior_learning_hours(a) if prior is None else prior)
    rule_set, by_rule = _plan(a.standard_version, starts_on, planned_end_on, weekly_hours, prior)
    english_maths, english_maths_note = _english_maths(changes.get("english_maths", a.english_maths),
                                                       changes.get("english_maths_note", a.english_maths_note))

    wanted = changes.get("planned_otj_hours")
    if wanted is None:
        # Still following the rules unless an override was recorded.
        wanted = by_rule if a.otj_override_reason is None else a.planned_otj_hours
    reason = (changes.get("otj_change_reason") or "").strip()
    if wanted != a.planned_otj_hours:
        _check_planned_hours(wanted, rule_set, field="planned_otj_hours")
        if not reason:
            raise ServiceError(
                f"The planned off-the-job hours would change from {a.planned_otj_hours} to {wanted}. Planned hours "
                "are fixed at the start, so enter the error this corrects", field="otj_change_reason")
    override_reason = None if wanted == by_rule else (reason or a.otj_override_reason)
    if wanted != by_rule and not override_reason:
        raise ServiceError(f"Enter the reason for planning {wanted} hours instead of the {by_rule} the rules give",
                           field="otj_change_reason")

    dates_changed = (starts_on, planned_end_on) != (a.starts_on, a.planned_end_on) or rule_set.key != a.rule_set
    a.employer, a.training_provider, a.weekly_hours = employer, training_provider, weekly_hours
    a.starts_on, a.planned_end_on, a.rule_set = starts_on, planned_end_on, rule_set.key
    a.planned_otj_hours_by_rule, a.planned_otj_hours, a.otj_override_reason = by_rule, wanted, override_reason
    a.english_maths, a.english_maths_note = english_maths, english_maths_note
    if "intake" in changes:
        a.intake = changes["intake"]
    db.session.flush()
    if dates_changed:
        schedule_reviews(a)
    after = _snapshot(a)
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changed:
        audit.record(actor, "apprenticeship.updated", a,
                     f"Changed {a.apprentice.name}'s apprenticeship: {', '.join(k.replace('_', ' ') for k in changed)}",
                     changes=changed, otj_change_reason=reason or None)
    review_rows.refresh_for([a.id])
    return a


def recorded_prior_learning_hours(a: Apprenticeship) -> int:
    """The recognised prior learning the planned figure was computed with: what the rule set gives without
    it, less what it gave."""
    rule_set = apprenticeship_rules.RULE_SETS_BY_KEY[a.rule_set]
    try:
        without = apprenticeship_rules.planned_otj_hours(
            rule_set, start=a.starts_on, planned_end=a.planned_end_on, weekly_hours=Decimal(a.weekly_hours),
            published_minimum=a.standard_version.otj_minimum_hours)
    except RuleError:
        return 0
    return max(0, without - a.planned_otj_hours_by_rule)


def minimum_end(a: Apprenticeship) -> date:
    """The end of the minimum practical period, before breaks in learning."""
    rule_set = apprenticeship_rules.RULE_SETS_BY_KEY[a.rule_set]
    return apprenticeship_rules.minimum_end(a.starts_on, rule_set, Decimal(a.weekly_hours))


def _id(actor) -> int | None:
    return actor.id if actor is not None and getattr(actor, "is_authenticated", False) else None


def _check_employer(actor, employer) -> None:
    if employer is None:
        raise ServiceError("Select the employer", field="employer")
    if actor is not None and not policy.can_manage_in_organisation(actor, employer):
        raise ServiceError(f"You do not coordinate {employer.name}: choose an employer you coordinate",
                           field="employer")


def _training_provider(name) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Enter the name of the training provider", field="training_provider")
    if len(name) > 200:
        raise ServiceError("The training provider's name must be 200 characters or fewer", field="training_provider")
    return name


def _weekly_hours(value) -> Decimal:
    try:
        hours = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ServiceError("Enter the contracted weekly hours as a number, like 37.5", field="weekly_hours") from None
    if not hours.is_finite() or hours < 1 or hours > MAX_WEEKLY_HOURS:
        raise ServiceError("Contracted weekly hours must be between 1 and 48", field="weekly_hours")
    if hours != hours.quantize(Decimal("0.1")):
        raise ServiceError("Enter weekly hours to one decimal place at most, like 37.5", field="weekly_hours")
    return hours.quantize(Decimal("0.1"))


def _check_dates(starts_on, planned_end_on) -> None:
    if starts_on is None:
        raise ServiceError("Enter the start date", field="starts_on")
    if planned_end_on is None:
        raise ServiceError("Enter the planned end date", field="planned_end_on")
    if planned_end_on <= starts_on:
        raise ServiceError("The planned end date must be after the start date", field="planned_end_on")


def _check_records_inside(a: Apprenticeship, starts_on: date, planned_end_on: date) -> None:
    """New dates must still hold the placements and the hours already logged."""
    for placement in a.placements:
        if placement.starts_on < starts_on:
            raise ServiceError(f"A placement starts on {placement.starts_on:%-d %B %Y}, before that start date: "
                               "change the placement first", field="starts_on")
        if placement.ends_on > planned_end_on:
            raise ServiceError(f"A placement ends on {placement.ends_on:%-d %B %Y}, after that planned end date: "
                               "change the placement first", field="planned_end_on")
    first = db.session.scalar(select(func.min(OtjActivity.occurred_on)).where(
        OtjActivity.apprenticeship_id == a.id, OtjActivity.status != OtjStatus.REJECTED))
    if first is not None and first < starts_on:
        raise ServiceError(f"Off-the-job hours are logged from {first:%-d %B %Y}, before that start date",
                           field="starts_on")


def _prior_learning(hours) -> int:
    if hours is None:
        return 0
    if int(hours) != hours or hours < 0:
        raise ServiceError("Recognised prior learning must be a whole number of hours, 0 or more",
                           field="prior_learning_hours")
    return int(hours)


def _plan(standard_version, starts_on, planned_end_on, weekly_hours, prior):
    rule_set = apprenticeship_rules.rule_set_for(starts_on)
    earliest = apprenticeship_rules.minimum_end(starts_on, rule_set, weekly_hours)
    if planned_end_on < earliest:
        months = apprenticeship_rules.minimum_months(rule_set, weekly_hours)
        period = f"{months:.0f}" if months == int(months) else f"{months:.1f}"
        at_hours = f" at {weekly_hours.normalize():f} hours a week" if rule_set.minimum_extended_for_part_time else ""
        raise ServiceError(
            f"The planned end date must be on or after {earliest:%-d %B %Y}: the minimum practical period for "
            f"{_rules_phrase(rule_set)} is {period} months{at_hours}", field="planned_end_on")
    try:
        planned = apprenticeship_rules.planned_otj_hours(
            rule_set, start=starts_on, planned_end=planned_end_on, weekly_hours=weekly_hours,
            published_minimum=standard_version.otj_minimum_hours, prior_learning_hours=prior)
    except RuleError as error:
        raise ServiceError(str(error), field="standard_version") from None
    return rule_set, planned


def _check_planned_hours(hours, rule_set, *, field: str) -> None:
    if int(hours) != hours or hours < 0:
        raise ServiceError("Planned off-the-job hours must be a whole number, 0 or more", field=field)
    if hours < rule_set.otj_floor_hours:
        raise ServiceError(f"Planned off-the-job hours cannot be below {rule_set.otj_floor_hours} for "
                           f"{_rules_phrase(rule_set)}", field=field)


def _rules_phrase(rule_set) -> str:
    """'starts from 1 August 2025': the rule set's name inside a sentence."""
    return rule_set.name[0].lower() + rule_set.name[1:]


def _english_maths(decision, note):
    if decision is None or decision not in {e.value for e in EnglishMaths}:
        raise ServiceError("Select the English and maths decision", field="english_maths")
    decision = EnglishMaths(decision)
    note = (note or "").strip() or None
    if decision is EnglishMaths.NOT_REQUIRED and not note:
        raise ServiceError("Enter why English and maths are not required, for example 'aged 19 or over at the "
                           "start and chose not to take them'", field="english_maths_note")
    return decision, note


def _snapshot(a: Apprenticeship) -> dict:
    return {
        "employer": a.employer.name, "training_provider": a.training_provider,
        "intake": a.intake.name if a.intake else None, "starts_on": a.starts_on.isoformat(),
        "planned_end_on": a.planned_end_on.isoformat(), "weekly_hours": str(Decimal(a.weekly_hours).normalize()),
        "rule_set": a.rule_set, "planned_otj_hours_by_rule": a.planned_otj_hours_by_rule,
        "planned_otj_hours": a.planned_otj_hours, "otj_override_reason": a.otj_override_reason,
        "english_maths": a.english_maths.value, "english_maths_note": a.english_maths_note,
    }


# The lifecycle ------------------------------------------------------------------------------------


def allowed_transitions(a: Apprenticeship) -> list[ApprenticeshipStatus]:
    return list(TRANSITIONS[a.status])


def refusal(a: Apprenticeship, to_status: ApprenticeshipStatus) -> str | None:
    """Why ``a`` cannot move to ``to_status`` from its current status, or None if it can."""
    current = a.status
    if to_status in TRANSITIONS[current]:
        return None
    if to_status is current:
        message = f"The apprenticeship is already {current.label.lower()}"
    elif current is S.WITHDRAWN:
        return "A withdrawn apprenticeship cannot be restarted: start a new apprenticeship instead"
    elif current is S.COMPLETED:
        return f"A completed apprenticeship cannot {_BECOME[to_status]}: it has finished with its grade"
    else:
        message = f"{_SUBJECT[current]} cannot {_BECOME[to_status]}"
        if (current, to_status) in _WHY_NOT:
            message += f": {_WHY_NOT[(current, to_status)]}"
    options = [_BECOME[s] for s in TRANSITIONS[current]]
    if options:
        listed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
        message += f". From {current.label.lower()} it can {listed}"
    return message


def change_status(actor: Person | None, a: Apprenticeship, to_status: ApprenticeshipStatus, *,
                  effective_on: date | None, reason: str | None, grade: str | None = None) -> StatusChange:
    """Move ``a`` along its lifecycle (see ``TRANSITIONS``), recording who, when, why and from which date."""
    to_status = ApprenticeshipStatus(to_status)
    refused = refusal(a, to_status)
    if refused:
        raise ServiceError(refused, field="to_status")
    reason = (reason or "").strip()
    _check_effective_date(a, effective_on)
    if not reason:
        raise ServiceError("Enter why the apprentice is withdrawing" if to_status is S.WITHDRAWN
                           else "Enter the reason for the change", field="reason")
    from_status = a.status
    details: dict = {}
    recorded_reason = reason

    if to_status is S.GATEWAY:
        from app.services import gateway

        check = gateway.checklist(a)
        if not check.ready:
            raise ServiceError("The apprenticeship is not ready for gateway. Still missing: "
                               + "; ".join(check.missing), field="to_status")
    elif to_status is S.BREAK_IN_LEARNING:
        a.breaks.append(BreakInLearning(starts_on=effective_on, reason=reason))
    elif from_status is S.BREAK_IN_LEARNING and to_status is S.ACTIVE:
        details.update(_return_from_break(a, effective_on))
    elif to_status is S.WITHDRAWN:
        details.update(_withdraw(a, effective_on, reason))
        if not details["counts_as_start"]:
            recorded_reason += (f" (Withdrawn within the first {NOT_A_START_DAYS} days: this does not count as a "
                                "start.)")
    elif to_status is S.COMPLETED:
        a.grade = _passing_grade(a, grade)
        a.actual_end_on = effective_on
        details["grade"] = a.grade

    a.status = to_status
    a.status_changed_at = utcnow()
    change = StatusChange(from_status=from_status, to_status=to_status, effective_on=effective_on,
                          reason=recorded_reason, changed_by_id=_id(actor))
    a.status_changes.append(change)
    db.session.flush()
    audit.record(actor, "apprenticeship.status_changed", a,
                 f"{a.apprentice.name}'s apprenticeship: {from_status.label} to {to_status.label} "
                 f"from {effective_on:%-d %B %Y}", from_status=from_status.value, to_status=to_status.value,
                 effective_on=effective_on.isoformat(), reason=recorded_reason, **details)
    if to_status is S.COMPLETED:
        certificates.issue_for_apprenticeship(a, actor=actor)
    review_rows.refresh_for([a.id])
    return change


def _check_effective_date(a: Apprenticeship, effective_on: date | None) -> None:
    if effective_on is None:
        raise ServiceError("Enter the date the change takes effect", field="effective_on")
    if effective_on > clock.today():
        raise ServiceError("The date cannot be in the future: record the change when it happens",
                           field="effective_on")
    if effective_on < a.starts_on:
        raise ServiceError(f"The date must be on or after the start date, {a.starts_on:%-d %B %Y}",
                           field="effective_on")
    last = max((c.effective_on for c in a.status_changes), default=a.starts_on)
    if effective_on < last:
        raise ServiceError(f"The date must be on or after {last:%-d %B %Y}, the date of the last status change",
                           field="effective_on")


def _open_break(a: Apprenticeship) -> BreakInLearning | None:
    return next((b for b in reversed(a.breaks) if b.ends_on is None), None)


def _return_from_break(a: Apprenticeship, returns_on: date) -> dict:
    """Close the break the day before the return; the planned end moves later by the break's length."""
    open_break = _open_break(a)
    if open_break is None:
        return {}
    if returns_on <= open_break.starts_on:
        raise ServiceError(f"The return date must be after the break started on {open_break.starts_on:%-d %B %Y}",
                           field="effective_on")
    open_break.ends_on = returns_on - timedelta(days=1)
    length = (open_break.ends_on - open_break.starts_on).days + 1
    old_end = a.planned_end_on
    a.planned_end_on = old_end + timedelta(days=length)
    db.session.flush()
    schedule_reviews(a)
    return {"break_days": length, "planned_end_on": [old_end.isoformat(), a.planned_end_on.isoformat()]}


def last_approved_learning(a: Apprenticeship) -> date | None:
    return db.session.scalar(select(func.max(OtjActivity.occurred_on)).where(
        OtjActivity.apprenticeship_id == a.id, OtjActivity.status == OtjStatus.APPROVED))


def _withdraw(a: Apprenticeship, effective_on: date, reason: str) -> dict:
    """The actual end is the last evidenced learning: the last approved off-the-job hours, or the start."""
    actual_end = last_approved_learning(a) or a.starts_on
    open_break = _open_break(a)
    if open_break is not None:
        open_break.ends_on = max(open_break.starts_on, effective_on - timedelta(days=1))
    a.actual_end_on = actual_end
    a.withdrawal_reason = reason
    counts = (actual_end - a.starts_on).days >= NOT_A_START_DAYS
    return {"actual_end_on": actual_end.isoformat(), "counts_as_start": counts}


def _passing_grade(a: Apprenticeship, grade: str | None) -> str:
    grade = (grade or "").strip().lower()
    passing = [g for g in a.standard_version.epa_grades if g.lower() != "fail"]
    if not grade:
        raise ServiceError("Select the grade the apprentice achieved", field="grade")
    if grade == "fail":
        raise ServiceError("A fail is not a completion: the apprenticeship stays in end-point assessment for a "
                           "resit", field="grade")
    if grade not in passing:
        listed = " or ".join(passing)
        raise ServiceError(f"Select a grade that {a.standard_version.standard.title} allows: {listed}",
                           field="grade")
    return grade


def passing_grades(a: Apprenticeship) -> list[str]:
    return [g for g in a.standard_version.epa_grades if g.lower() != "fail"]


# Finding records ----------------------------------------------------------------------------------


@dataclass
class ApprenticeshipFilter:
    search: str = ""
    status: ApprenticeshipStatus | None = None
    intake_id: int | None = None
    standard_id: int | None = None
    organisation_id: int | None = None


def apprenticeship_query(viewer: Person, filters: ApprenticeshipFilter) -> Select:
    query = (
        select(Apprenticeship).join(Apprenticeship.apprentice)
        .options(selectinload(Apprenticeship.apprentice), selectinload(Apprenticeship.employer),
                 selectinload(Apprenticeship.intake),
                 selectinload(Apprenticeship.standard_version).selectinload(StandardVersion.standard))
        .order_by(Person.name, Apprenticeship.id)
    )
    scope = policy.apprenticeship_scope_filter(viewer)
    if scope is not None:
        query = query.where(scope)
    if filters.search:
        like = f"%{filters.search.strip().lower()}%"
        query = query.where(or_(Person.email.like(like), Person.name.ilike(like)))
    if filters.status:
        query = query.where(Apprenticeship.status == filters.status)
    if filters.intake_id:
        query = query.where(Apprenticeship.intake_id == filters.intake_id)
    if filters.standard_id:
        query = query.where(Apprenticeship.standard_version_id.in_(
            select(StandardVersion.id).where(StandardVersion.standard_id == filters.standard_id)))
    if filters.organisation_id:
        query = query.where(Apprenticeship.employer_id == filters.organisation_id)
    return query


def apprenticeship_list(viewer: Person, *, search: str = "", status: ApprenticeshipStatus | None = None,
                        intake_id: int | None = None, standard_id: int | None = None,
                        organisation_id: int | None = None, page: int = 1):
    """A page of the records ``viewer`` coordinates, in apprentice name order; the same few queries
    whatever the number of records."""
    filters = ApprenticeshipFilter(search=search, status=status, intake_id=intake_id, standard_id=standard_id,
                                   organisation_id=organisation_id)
    return db.paginate(apprenticeship_query(viewer, filters), page=page, per_page=PAGE_SIZE, error_out=False)


def apprenticeships_of(person: Person) -> list[Apprenticeship]:
    """The apprentice's own apprenticeships, newest first."""
    return list(db.session.scalars(
        select(Apprenticeship).where(Apprenticeship.apprentice_id == person.id)
        .order_by(Apprenticeship.starts_on.desc(), Apprenticeship.id.desc())))


def current_apprenticeship(person: Person) -> Apprenticeship | None:
    """The apprenticeship in progress, or else the latest one."""
    mine = apprenticeships_of(person)
    return next((a for a in mine if a.status in IN_PROGRESS), mine[0] if mine else None)


def current_placement(a: Apprenticeship, day: date | None = None) -> Placement | None:
    day = day or clock.today()
    return next((p for p in a.placements if p.starts_on <= day <= p.ends_on), None)


def apprentices_to_start(viewer: Person) -> list[Person]:
    """Active apprentices in ``viewer``'s organisations with no apprenticeship in progress."""
    query = (
        select(Person).where(
            Person.active.is_(True),
            Person.id.in_(select(RoleGrant.person_id).where(RoleGrant.role == Role.APPRENTICE)),
            Person.id.not_in(select(Apprenticeship.apprentice_id).where(Apprenticeship.status.in_(IN_PROGRESS))),
        ).order_by(Person.name, Person.id)
    )
    scope = policy.managed_organisation_ids(viewer)
    if scope is not None:
        query = query.where(Person.organisation_id.in_(scope or {-1}))
    return list(db.session.scalars(query))


def standard_versions() -> list[StandardVersion]:
    return list(db.session.scalars(
        select(StandardVersion).join(StandardVersion.standard).options(selectinload(StandardVersion.standard))
        .order_by(Standard.title, Standard.reference, StandardVersion.id)))


def intakes() -> list[Intake]:
    return list(db.session.scalars(select(Intake).order_by(Intake.starts_on.desc(), Intake.name)))


def standards() -> list[Standard]:
    return list(db.session.scalars(select(Standard).order_by(Standard.title, Standard.reference)))


# Reading one record, as its pages show it -------------------------------------------------------------
# The overview and off-the-job pages are the busiest of a record: they read columns and names with a few
# plain queries instead of loading the record's objects and their relationships one by one.


@dataclass(frozen=True)
class Named:
    """A person or organisation as a page names it."""

    id: int
    name: str


@dataclass(frozen=True)
class RecordStandard:
    title: str
    level: int
    reference: str


@dataclass(frozen=True)
class RecordStandardVersion:
    id: int
    version: str
    standard: RecordStandard

    label = property(StandardVersion.label.fget)


@dataclass(frozen=True)
class RecordBreak:
    starts_on: date
    ends_on: date | None


@dataclass(frozen=True)
class RecordReview:
    sequence: int
    due_on: date


@dataclass(frozen=True)
class RecordPlacement:
    id: int
    starts_on: date
    ends_on: date
    supervisor_id: int
    host_organisation_id: int
    host_organisation_name: str
    team_name: str
    supervisor_name: str


@dataclass
class ApprenticeshipRecord:
    """An apprenticeship's own columns, the names its pages show, its breaks in learning and its next review
    (the first not yet held), from one query; its placements on first use, from one more. The rules in
    ``policy`` and ``otj_totals`` read it as they read an ``Apprenticeship``."""

    id: int
    apprentice_id: int
    employer_id: int
    status: ApprenticeshipStatus
    training_provider: str
    starts_on: date
    planned_end_on: date
    actual_end_on: date | None
    weekly_hours: Decimal
    rule_set: str
    planned_otj_hours_by_rule: int
    planned_otj_hours: int
    otj_override_reason: str | None
    english_maths: EnglishMaths
    english_maths_note: str | None
    grade: str | None
    withdrawal_reason: str | None
    apprentice: Named
    employer: Named
    intake: Named | None
    standard_version: RecordStandardVersion
    breaks: list[RecordBreak]
    next_review: RecordReview | None
    _placements: list[RecordPlacement] | None = None

    @property
    def placements(self) -> list[RecordPlacement]:
        if self._placements is None:
            self._placements = [RecordPlacement(*row) for row in _read(_record_placements_query(), self.id)]
        return self._placements


_RECORD_COLUMNS = (
    "id", "apprentice_id", "employer_id", "status", "training_provider", "starts_on", "planned_end_on",
    "actual_end_on", "weekly_hours", "rule_set", "planned_otj_hours_by_rule", "planned_otj_hours",
    "otj_override_reason", "english_maths", "english_maths_note", "grade", "withdrawal_reason",
)


def _read(statement: Select, apprenticeship_id: int):
    """Rows of a read-only statement on the session's connection: plain rows, without the work of the
    session's object loading (nothing is pending on these pages' requests, so nothing needs flushing)."""
    return db.session.connection().execute(statement, {"apprenticeship_id": apprenticeship_id})


def name_of(model, key):
    """The ``name`` of the ``model`` row whose id is ``key``, as a column: a look-up by primary key, which
    PostgreSQL plans in a fraction of the time a join takes (planning these pages' joins cost more than
    running them)."""
    return select(model.name).where(model.id == key).scalar_subquery()


@cache
def _record_query() -> Select:
    """Built once: the record's row with the names it shows and its next review, once per break in learning
    (or once)."""

    def next_review(column):
        return (select(column).where(ProgressReview.apprenticeship_id == Apprenticeship.id,
                                     ProgressReview.held_on.is_(None))
                .order_by(ProgressReview.sequence).limit(1).scalar_subquery())

    return (
        select(*(getattr(Apprenticeship, name) for name in _RECORD_COLUMNS),
               name_of(Person, Apprenticeship.apprentice_id), name_of(Organisation, Apprenticeship.employer_id),
               Apprenticeship.intake_id, name_of(Intake, Apprenticeship.intake_id), StandardVersion.id,
               StandardVersion.version, Standard.title, Standard.level, Standard.reference,
               next_review(ProgressReview.sequence), next_review(ProgressReview.due_on),
               BreakInLearning.starts_on, BreakInLearning.ends_on)
        .join(StandardVersion, StandardVersion.id == Apprenticeship.standard_version_id)
        .join(Standard, Standard.id == StandardVersion.standard_id)
        .outerjoin(BreakInLearning, BreakInLearning.apprenticeship_id == Apprenticeship.id)
        .where(Apprenticeship.id == bindparam("apprenticeship_id"))
        .order_by(BreakInLearning.starts_on)
    )


@cache
def _record_placements_query() -> Select:
    """Built once: an apprenticeship's placements in order of their start, with the names pages show."""
    return (
        select(Placement.id, Placement.starts_on, Placement.ends_on, Placement.supervisor_id,
               Placement.host_organisation_id, name_of(Organisation, Placement.host_organisation_id),
               name_of(Team, Placement.team_id), name_of(Person, Placement.supervisor_id))
        .where(Placement.apprenticeship_id == bindparam("apprenticeship_id"))
        .order_by(Placement.starts_on, Placement.id)
    )


def record(apprenticeship_id: int) -> ApprenticeshipRecord | None:
    """The apprenticeship as its overview and off-the-job pages read it, or None."""
    rows = _read(_record_query(), apprenticeship_id).all()
    if not rows:
        return None
    row = rows[0]
    count = len(_RECORD_COLUMNS)
    own = dict(zip(_RECORD_COLUMNS, row[:count], strict=True))
    (apprentice_name, employer_name, intake_id, intake_name, version_id, version, title, level, reference,
     review_sequence, review_due_on, _break_start, _break_end) = row[count:]
    return ApprenticeshipRecord(
        **own,
        apprentice=Named(own["apprentice_id"], apprentice_name),
        employer=Named(own["employer_id"], employer_name),
        intake=Named(intake_id, intake_name) if intake_id is not None else None,
        standard_version=RecordStandardVersion(version_id, version, RecordStandard(title, level, reference)),
        breaks=[RecordBreak(r[-2], r[-1]) for r in rows if r[-2] is not None],
        next_review=RecordReview(review_sequence, review_due_on) if review_sequence is not None else None,
    )


@cache
def _status_history_query() -> Select:
    return (
        select(StatusChange.effective_on, StatusChange.from_status, StatusChange.to_status, StatusChange.reason,
               StatusChange.changed_at, name_of(Person, StatusChange.changed_by_id).label("changed_by_name"))
        .where(StatusChange.apprenticeship_id == bindparam("apprenticeship_id"))
        .order_by(StatusChange.id)
    )


def status_history(apprenticeship_id: int) -> list:
    """Every status change, oldest first, with the name of who recorded it (None: Pathways itself)."""
    return _read(_status_history_query(), apprenticeship_id).all()


@dataclass(frozen=True)
class LinkedRecord:
    id: int
    apprentice: Named


@dataclass(frozen=True)
class LinkedReview:
    """A review with what a link to it shows, read as a ``ProgressReview`` is."""

    id: int
    sequence: int
    held_on: date
    apprenticeship: LinkedRecord


@cache
def _reviews_named_query() -> Select:
    return (
        select(ProgressReview.id, ProgressReview.held_on, Person.id, Person.name)
        .join(Apprenticeship, Apprenticeship.id == ProgressReview.apprenticeship_id)
        .join(Person, Person.id == Apprenticeship.apprentice_id)
        .where(ProgressReview.id.in_(bindparam("review_ids", expanding=True)))
    )


def review_links(person: Person, *, limit: int) -> list:
    """The first ``limit`` reviews waiting for ``person``'s signature, as ``progress_reviews.reviews_to_sign``
    lists them (items with ``review`` and ``parties``), with only what a link to each shows."""
    if policy.is_coordinator(person):
        # Thousands may wait for a programme-wide coordinator: only the first few are looked at.
        return progress_reviews.reviews_to_sign(person, limit=limit)
    waiting = progress_reviews.reviews_waiting_for(person)[:limit]
    if not waiting:
        return []
    named = {row[0]: row for row in db.session.connection().execute(
        _reviews_named_query(), {"review_ids": [w.review_id for w in waiting]})}
    links = []
    for w in waiting:
        _, held_on, apprentice_id, name = named[w.review_id]
        record = LinkedRecord(w.apprenticeship_id, Named(apprentice_id, name))
        links.append(progress_reviews.ReviewToSign(LinkedReview(w.review_id, w.sequence, held_on, record), w.parties))
    return links
