"""The demo intake: about twenty apprentices across London boroughs, in the states a coordinator meets
(on track, behind on hours, a review overdue or unsigned, in a break, at gateway, withdrawn, a gap
between placements). Built through the same services people use, so the demo obeys every rule.

Dates are relative to the day the demo is loaded: the intake started twenty months before (see
``intake_start``), placements rotate every six months, hours were logged weekly since.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.extensions import db
from app.models import (
    ActivityType,
    ApprenticeshipStatus,
    EnglishMaths,
    Intake,
    KsbProgressLevel,
    Organisation,
    OtjActivity,
    OtjStatus,
    Person,
    Rag,
    Role,
    SigningParty,
    Standard,
    StandardVersion,
    Team,
)
from app.services import (
    accounts,
    apprenticeship_rules,
    apprenticeships,
    clock,
    gateway,
    intakes,
    off_the_job,
    organisations,
    placements,
    progress_reviews,
    risk,
    standards,
)
from app.services.demo import DEMO_PASSWORD

log = logging.getLogger("pathways.demo")

PROVIDERS = ("Makers Academy", "Digital Skills London", "QA Apprenticeships")
ACTIVITIES = (ActivityType.TEACHING, ActivityType.ONLINE_LEARNING, ActivityType.PRACTICAL_TRAINING,
              ActivityType.MENTORING, ActivityType.SHADOWING, ActivityType.ASSIGNMENT)
DESCRIPTIONS = {
    ActivityType.TEACHING: "Workshop with the training provider",
    ActivityType.ONLINE_LEARNING: "Online module and exercises",
    ActivityType.PRACTICAL_TRAINING: "Practical session building a feature with the team's mentor",
    ActivityType.MENTORING: "Mentoring session on the week's learning",
    ActivityType.SHADOWING: "Shadowed a senior colleague",
    ActivityType.ASSIGNMENT: "Wrote up a project for the portfolio",
}

# Teams that host apprentices, by organisation code.
HOST_TEAMS = {
    "E09000012": ["Digital Services", "Data and Insight", "ICT Service Desk"],
    "E09000007": ["Digital and Data"],
    "E09000023": ["Digital Transformation"],
    "E09000019": ["Digital Services"],
    "E09000030": ["Digital Innovation"],
    "E09000028": ["Technology and Digital"],
    "E09000022": ["Data Services"],
}

SUPERVISORS = {
    "E09000012": "supervisor@pathways.example",
    "E09000007": "camden.supervisor@pathways.example",
    "E09000023": "lewisham.supervisor@pathways.example",
    "E09000019": "islington.supervisor@pathways.example",
    "E09000030": "towerhamlets.supervisor@pathways.example",
    "E09000028": "southwark.supervisor@pathways.example",
    "E09000022": "lambeth.supervisor@pathways.example",
}
NEW_SUPERVISORS = [
    ("camden.supervisor@pathways.example", "Oliver Grant", "E09000007"),
    ("islington.supervisor@pathways.example", "Leila Ahmadi", "E09000019"),
    ("towerhamlets.supervisor@pathways.example", "Rahim Uddin", "E09000030"),
    ("southwark.supervisor@pathways.example", "Chloe Bennett", "E09000028"),
    ("lambeth.supervisor@pathways.example", "Kwame Asante", "E09000022"),
]


@dataclass(frozen=True)
class DemoApprentice:
    email: str
    name: str
    employer: str
    standard: str
    # on_track, behind, review_overdue, unsigned (the last review awaits the apprentice and the employer),
    # awaiting_employer (it awaits the employer and the coordinator), break, gateway, withdrawn, gap
    state: str
    # Organisation codes of the placements in rotation order.
    rotation: tuple[str, ...]


DEMO_APPRENTICES = [
    DemoApprentice("apprentice@pathways.example", "Jordan Campbell", "E09000012", "ST0116", "unsigned",
                   ("E09000012", "E09000030", "E09000019", "E09000012")),
    DemoApprentice("camden.apprentice@pathways.example", "Amina Hassan", "E09000007", "ST0118", "on_track",
                   ("E09000007", "E09000019", "E09000007", "E09000012")),
    DemoApprentice("kai.thompson@pathways.example", "Kai Thompson", "E09000012", "ST0825", "gateway",
                   ("E09000012", "E09000012", "E09000030", "E09000012")),
    DemoApprentice("sofia.rossi@pathways.example", "Sofia Rossi", "E09000012", "ST0116", "on_track",
                   ("E09000012", "E09000023", "E09000012", "E09000030")),
    DemoApprentice("daniel.osei@pathways.example", "Daniel Osei", "E09000012", "ST0118", "behind",
                   ("E09000012", "E09000022", "E09000012", "E09000007")),
    DemoApprentice("mia.nowak@pathways.example", "Mia Nowak", "E09000030", "ST0825", "on_track",
                   ("E09000030", "E09000012", "E09000030", "E09000028")),
    DemoApprentice("yusuf.ali@pathways.example", "Yusuf Ali", "E09000030", "ST0116", "review_overdue",
                   ("E09000030", "E09000030", "E09000012", "E09000030")),
    DemoApprentice("ella.murphy@pathways.example", "Ella Murphy", "E09000019", "ST1386", "on_track",
                   ("E09000019", "E09000007", "E09000019", "E09000022")),
    DemoApprentice("tariq.hussain@pathways.example", "Tariq Hussain", "E09000019", "ST0116", "break",
                   ("E09000019", "E09000012", "E09000019", "E09000023")),
    DemoApprentice("grace.oconnor@pathways.example", "Grace O'Connor", "E09000023", "ST0825", "on_track",
                   ("E09000023", "E09000028", "E09000023", "E09000012")),
    DemoApprentice("samir.haddad@pathways.example", "Samir Haddad", "E09000023", "ST0116", "behind",
                   ("E09000023", "E09000023", "E09000022", "E09000023")),
    DemoApprentice("chloe.adams@pathways.example", "Chloe Adams", "E09000028", "ST0118", "on_track",
                   ("E09000028", "E09000012", "E09000028", "E09000030")),
    DemoApprentice("victor.mensah@pathways.example", "Victor Mensah", "E09000028", "ST1386", "gap",
                   ("E09000028", "E09000022")),
    DemoApprentice("hana.suzuki@pathways.example", "Hana Suzuki", "E09000022", "ST0116", "on_track",
                   ("E09000022", "E09000019", "E09000022", "E09000007")),
    DemoApprentice("leon.fischer@pathways.example", "Leon Fischer", "E09000022", "ST0825", "withdrawn",
                   ("E09000022",)),
    DemoApprentice("aisha.bello@pathways.example", "Aisha Bello", "E09000007", "ST0116", "review_overdue",
                   ("E09000007", "E09000023", "E09000007", "E09000019")),
    DemoApprentice("noah.williams@pathways.example", "Noah Williams", "E09000012", "ST1386", "on_track",
                   ("E09000012", "E09000019", "E09000012", "E09000028")),
    DemoApprentice("zara.khan@pathways.example", "Zara Khan", "E09000030", "ST0116", "behind",
                   ("E09000030", "E09000007", "E09000030", "E09000012")),
    DemoApprentice("ethan.clarke@pathways.example", "Ethan Clarke", "E09000019", "ST0118", "awaiting_employer",
                   ("E09000019", "E09000030", "E09000019", "E09000022")),
    DemoApprentice("ruby.evans@pathways.example", "Ruby Evans", "E09000028", "ST0825", "on_track",
                   ("E09000028", "E09000028", "E09000023", "E09000028")),
]


DEMO_MONTHS = 24
# Starts from 1 August 2025 plan off-the-job hours from each standard version's published minimum, which the
# reference data does not hold. When the demo intake starts after that date (the demo always starts twenty
# months before today, so it works whatever the day), a version without a figure gets this illustrative one,
# and `flask demo load` says so; coordinators record the real figure on the standard's page.
DEMO_OTJ_MINIMUM_HOURS = 550


def intake_start(today: date) -> date:
    """The first of the month twenty months before ``today``."""
    return apprenticeship_rules.add_months(today.replace(day=1), -20)


def _with_demo_minimum(versions: dict[str, StandardVersion], start: date) -> list[str]:
    """Give each version without a published minimum the demo figure, if the intake's rule set needs one;
    returns what was set, for the loader to print."""
    if apprenticeship_rules.rule_set_for(start).otj_method != "published":
        return []
    changed = []
    for version in versions.values():
        if version.otj_minimum_hours is None:
            version.otj_minimum_hours = DEMO_OTJ_MINIMUM_HOURS
            changed.append(f"{version.standard.reference} v{version.version}")
    db.session.flush()
    return changed


def load_demo_apprenticeships() -> int:
    """Create the demo intake once; returns the number of apprenticeships created (0 if it exists)."""
    today = clock.today()
    start = intake_start(today)
    name = f"{start:%B %Y}"
    if db.session.scalar(select(Intake).where(Intake.name == name)):
        return 0
    standards.load_standards()
    by_code = {o.code: o for o in db.session.scalars(select(Organisation))}
    coordinator = accounts.find_person_by_email("coordinator@pathways.example")
    teams = _host_teams(by_code)
    supervisors = _supervisors(by_code)
    intake = intakes.create_intake(coordinator, name=name, starts_on=start, coordinator=coordinator)
    versions = _current_versions()
    illustrative = _with_demo_minimum(versions, start)
    if illustrative:
        log.warning("The demo set an illustrative minimum of %s off-the-job hours on %s (no published figure "
                    "recorded)", DEMO_OTJ_MINIMUM_HOURS, ", ".join(illustrative))
    created = 0
    for n, demo in enumerate(DEMO_APPRENTICES):
        apprentice = accounts.find_person_by_email(demo.email) or accounts.create_person(
            None, email=demo.email, name=demo.name, organisation=by_code[demo.employer], roles=[Role.APPRENTICE],
            password=DEMO_PASSWORD)
        _build(demo, n, apprentice, intake, versions[demo.standard], by_code, teams, supervisors, coordinator,
               start, today)
        created += 1
    # Flag the new intake at once rather than at the next scheduled refresh.
    risk.refresh_flags()
    db.session.commit()
    return created


def _host_teams(by_code) -> dict[str, Team]:
    teams = {}
    for code, names in HOST_TEAMS.items():
        organisation = by_code[code]
        existing = {t.name: t for t in organisation.teams}
        for team_name in names:
            team = existing.get(team_name) or organisations.add_team(None, organisation, team_name)
            team.apprentice_capacity = team.apprentice_capacity or 6
            teams.setdefault(code, team)
    db.session.flush()
    return teams


def _supervisors(by_code) -> dict[str, Person]:
    for email, name, code in NEW_SUPERVISORS:
        if accounts.find_person_by_email(email) is None:
            accounts.create_person(None, email=email, name=name, organisation=by_code[code], roles=[Role.SUPERVISOR],
                                   password=DEMO_PASSWORD)
    db.session.flush()
    return {code: accounts.find_person_by_email(email) for code, email in SUPERVISORS.items()}


def _current_versions() -> dict[str, StandardVersion]:
    versions = {}
    for standard in db.session.scalars(select(Standard)):
        versions[standard.reference] = standard.versions[-1]
    return versions


def _build(demo, n, apprentice, intake, version, by_code, teams, supervisors, coordinator, start, today):
    planned_end = apprenticeship_rules.add_months(start, DEMO_MONTHS)
    record = apprenticeships.create_apprenticeship(
        coordinator, apprentice=apprentice, standard_version=version, employer=by_code[demo.employer],
        training_provider=PROVIDERS[n % len(PROVIDERS)], starts_on=start, planned_end_on=planned_end,
        weekly_hours=Decimal(37 if n % 5 else 30), intake=intake,
        english_maths=EnglishMaths.ACHIEVED if n % 4 else EnglishMaths.NOT_REQUIRED,
        english_maths_note=None if n % 4 else "Aged 19 or over at the start; chose not to take English and maths")
    db.session.flush()

    # Rotations of six months; "gap" leaves two months between the last placement and the next one.
    ksbs = version.ksbs
    placement_start = start
    for k, code in enumerate(demo.rotation):
        end = apprenticeship_rules.add_months(start, 6 * (k + 1)) - timedelta(days=1)
        if k == len(demo.rotation) - 1 and demo.state != "gap":
            end = planned_end  # the last placement runs to the end
        end = min(end, planned_end)
        if demo.state == "withdrawn":
            end = start + timedelta(days=150)
        targets = [ksb.id for ksb in ksbs[k::len(demo.rotation)]]
        placement = placements.add_placement(
            coordinator, record, team=teams[code], supervisor=supervisors[code], starts_on=placement_start,
            ends_on=end, objectives=f"Work with the {teams[code].name} team on live services; "
                                    f"build evidence for {len(targets)} KSBs.", ksb_ids=targets)
        if end < today:
            placements.record_feedback(
                supervisors[code], placement,
                f"{demo.name.split()[0]} took on real work in the team, asked good questions and shared what "
                "they learned; next, more independent work on a live service.")
        if demo.state == "gap" and k == len(demo.rotation) - 1:
            break
        placement_start = end + timedelta(days=1)
        if placement_start > today + timedelta(days=200) or placement_start > planned_end - timedelta(days=60):
            break
    db.session.flush()

    _log_history(demo, record, version, coordinator, start, today)
    _hold_reviews(demo, record, version, coordinator, today)
    _lifecycle(demo, record, coordinator, today)


def _weekly_hours_pattern(state: str, planned: int, weeks_total: float) -> Decimal:
    pace = Decimal(planned) / Decimal(weeks_total)
    factor = {"behind": Decimal("0.6"), "gateway": Decimal("2.0")}.get(state, Decimal("1.1"))
    return pace * factor


def _log_history(demo, record, version, coordinator, start, today):
    """One entry a week from the start to last week, spread over the KSBs; approved except the last few."""
    weeks_total = (record.planned_end_on - start).days / 7
    per_week = _weekly_hours_pattern(demo.state, record.planned_otj_hours, weeks_total)
    minutes = int(per_week * 60 / 15) * 15
    stop = today - timedelta(days=7)
    if demo.state == "withdrawn":
        stop = start + timedelta(days=120)
    if demo.state == "break":
        stop = today - timedelta(days=70)
    ksbs = version.ksbs
    day, week, logged = start + timedelta(days=1), 0, []
    while day <= stop:
        activity = ACTIVITIES[week % len(ACTIVITIES)]
        chunk = [ksbs[(week * 2) % len(ksbs)].id, ksbs[(week * 2 + 1) % len(ksbs)].id]
        remaining = minutes
        part = 0
        while remaining > 0:
            # Split long weeks over two days so no day passes the working-day limit.
            this = min(remaining, 6 * 60)
            entry_day = day + timedelta(days=part)
            logged.append(off_the_job.log_activity(
                record.apprentice, record, occurred_on=entry_day, minutes=this, activity_type=activity,
                description=f"{DESCRIPTIONS[activity]} (week {week + 1})", ksb_ids=chunk))
            remaining -= this
            part += 1
        day += timedelta(days=7)
        week += 1
    db.session.flush()
    # The last two weeks wait for the supervisor, except for the apprentice at gateway.
    waiting = 0 if demo.state in ("gateway", "withdrawn", "break") else 2
    to_approve = logged[:-waiting] if waiting else logged
    for activity in to_approve:
        activity.status = OtjStatus.APPROVED
        activity.decided_by_id = (activity.placement.supervisor_id if activity.placement else coordinator.id)
        activity.decided_at = activity.logged_at
    db.session.flush()


def _hold_reviews(demo, record, version, coordinator, today):
    due = [r for r in record.reviews if r.due_on <= today]
    if demo.state == "withdrawn":
        due = [r for r in due if r.due_on <= record.starts_on + timedelta(days=120)]
    for i, review in enumerate(due):
        last = i == len(due) - 1
        if last and demo.state == "review_overdue":
            break
        level = KsbProgressLevel.COMPLETE if demo.state == "gateway" else (
            KsbProgressLevel.IN_PROGRESS if i < 2 else KsbProgressLevel.READY)
        rag = Rag.RED if demo.state == "behind" and i > 0 else Rag.AMBER if demo.state == "behind" else Rag.GREEN
        progress_reviews.record_review(
            coordinator, review, held_on=review.due_on, rag=rag,
            previous_actions="Actions from the last review were completed." if i else None,
            concerns="Off-the-job hours are behind the plan." if demo.state == "behind" else None,
            actions="Book two learning days a month with the training provider." if demo.state == "behind"
            else "Keep building portfolio evidence on the next placement.",
            ksb_progress={ksb.id: level for ksb in version.ksbs})
        parties = list(SigningParty)
        if last and demo.state == "unsigned":
            parties = [SigningParty.COORDINATOR]
        elif last and demo.state == "awaiting_employer":
            parties = [SigningParty.APPRENTICE]
        for party in parties:
            signer = _signer(party, record, review, coordinator)
            progress_reviews.sign(signer, review, party)
    db.session.flush()


def _signer(party, record, review, coordinator):
    if party is SigningParty.APPRENTICE:
        return record.apprentice
    if party is SigningParty.COORDINATOR:
        return coordinator
    in_force = [p for p in record.placements if p.starts_on <= review.held_on]
    return in_force[-1].supervisor


def _lifecycle(demo, record, coordinator, today):
    if demo.state == "break":
        apprenticeships.change_status(coordinator, record, ApprenticeshipStatus.BREAK_IN_LEARNING,
                                      effective_on=today - timedelta(days=60),
                                      reason="Caring responsibilities; intends to return in the spring")
    elif demo.state == "withdrawn":
        apprenticeships.change_status(coordinator, record, ApprenticeshipStatus.WITHDRAWN,
                                      effective_on=record.starts_on + timedelta(days=140),
                                      reason="Left for a job outside the council")
    elif demo.state == "gateway":
        current = [p for p in record.placements if p.starts_on <= today <= p.ends_on]
        gateway.record_employer_agreement(current[0].supervisor if current else coordinator, record)
        apprenticeships.change_status(coordinator, record, ApprenticeshipStatus.GATEWAY, effective_on=today,
                                      reason="Employer and provider agree the apprentice is ready for assessment")
    db.session.flush()


def demo_hours_waiting() -> int:
    """How many demo entries wait for approval (for the sign-in hints)."""
    return db.session.query(OtjActivity).filter(OtjActivity.status == OtjStatus.SUBMITTED).count()
