"""Standards, intakes, apprenticeships, placements and off-the-job hours made straight from the models,
so tests of one part of the record do not depend on the forms of another. Dates are relative to today
unless given, so the records stay current whatever day the suite runs."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import count

from sqlalchemy import select

from app.extensions import db
from app.models import (
    ActivityType,
    Apprenticeship,
    ApprenticeshipStatus,
    EnglishMaths,
    Intake,
    Ksb,
    KsbKind,
    OtjActivity,
    OtjStatus,
    Placement,
    Role,
    Standard,
    StandardVersion,
    Team,
)
from app.services import apprenticeship_rules, clock
from app.services.progress_reviews import schedule_reviews
from tests.conftest import make_person, organisation

_numbers = count(1)


def make_standard_version(reference: str = "ST0116", *, title: str = "Software developer", level: int = 4,
                          version: str = "1.1", knowledge: int = 3, skills: int = 3, behaviours: int = 2,
                          otj_minimum_hours: int | None = 400,
                          epa_grades=("fail", "pass", "distinction"), duration_months: int = 24) -> StandardVersion:
    """A standard version with K1..Kn, S1..Sn and B1..Bn."""
    standard = db.session.scalar(select(Standard).where(Standard.reference == reference))
    if standard is None:
        standard = Standard(reference=reference, title=title, level=level, route="Digital")
        db.session.add(standard)
    standard_version = StandardVersion(standard=standard, version=version, lars_code=next(_numbers),
                                       typical_duration_months=duration_months,
                                       otj_minimum_hours=otj_minimum_hours, epa_grades=list(epa_grades))
    db.session.add(standard_version)
    position = 0
    for prefix, kind, how_many in (("K", KsbKind.KNOWLEDGE, knowledge), ("S", KsbKind.SKILL, skills),
                                   ("B", KsbKind.BEHAVIOUR, behaviours)):
        for n in range(1, how_many + 1):
            position += 1
            db.session.add(Ksb(standard_version=standard_version, code=f"{prefix}{n}", kind=kind, position=position,
                               title=f"{kind.value.capitalize()} {n} of {reference}"))
    db.session.commit()
    return standard_version


def make_team(organisation_code: str = "E09000012", name: str = "Digital services", *,
              capacity: int | None = None) -> Team:
    org = organisation(organisation_code)
    team = db.session.scalar(select(Team).where(Team.organisation_id == org.id, Team.name == name))
    if team is None:
        team = Team(organisation_id=org.id, name=name, apprentice_capacity=capacity)
        db.session.add(team)
        db.session.commit()
    return team


def make_coordinator(email: str = "coordinator@example.org", *, scope: tuple[str, ...] = ("E09000012",),
                     organisation_code: str = "E09000012"):
    """A coordinator of the given organisations; ``scope=()`` makes a programme-wide coordinator."""
    return make_person(email, name="Cora Coordinator", roles=(Role.COORDINATOR,), scope=scope,
                       organisation_code=organisation_code)


def make_supervisor(email: str = "supervisor@example.org", *, organisation_code: str = "E09000012"):
    return make_person(email, name="Sam Supervisor", roles=(Role.SUPERVISOR,), organisation_code=organisation_code)


def make_apprentice(email: str = "apprentice@example.org", *, name: str = "Ada Apprentice",
                    organisation_code: str = "E09000012"):
    return make_person(email, name=name, roles=(Role.APPRENTICE,), organisation_code=organisation_code)


def make_intake(name: str | None = None, *, starts_on: date | None = None, coordinator=None) -> Intake:
    coordinator = coordinator or make_coordinator(f"intake-coordinator-{next(_numbers)}@example.org", scope=())
    intake = Intake(name=name or f"Intake {next(_numbers)}", starts_on=starts_on or clock.today() - timedelta(days=200),
                    coordinator_id=coordinator.id)
    db.session.add(intake)
    db.session.commit()
    return intake


def make_apprenticeship(apprentice=None, *, standard_version: StandardVersion | None = None,
                        starts_on: date | None = None, months: int = 24, weekly_hours: str = "37",
                        employer_code: str = "E09000012", intake: Intake | None = None,
                        status: ApprenticeshipStatus = ApprenticeshipStatus.ACTIVE,
                        english_maths: EnglishMaths = EnglishMaths.ACHIEVED,
                        schedule: bool = True) -> Apprenticeship:
    """An apprenticeship with its planned hours computed by the rule set of its start date, and (with
    ``schedule``) its progress reviews scheduled."""
    apprentice = apprentice or make_apprentice(f"apprentice-{next(_numbers)}@example.org")
    standard_version = standard_version or make_standard_version(reference=f"ST9{next(_numbers):03d}")
    starts_on = starts_on or clock.today() - timedelta(days=200)
    planned_end = apprenticeship_rules.add_months(starts_on, months)
    rule_set = apprenticeship_rules.rule_set_for(starts_on)
    planned = apprenticeship_rules.planned_otj_hours(
        rule_set, start=starts_on, planned_end=planned_end, weekly_hours=Decimal(weekly_hours),
        published_minimum=standard_version.otj_minimum_hours)
    apprenticeship = Apprenticeship(
        apprentice_id=apprentice.id, intake_id=intake.id if intake else None, standard_version=standard_version,
        employer_id=organisation(employer_code).id, training_provider="Digital Skills Training Ltd",
        starts_on=starts_on, planned_end_on=planned_end, weekly_hours=Decimal(weekly_hours), rule_set=rule_set.key,
        planned_otj_hours_by_rule=planned, planned_otj_hours=planned, english_maths=english_maths, status=status,
    )
    db.session.add(apprenticeship)
    db.session.flush()
    if schedule:
        schedule_reviews(apprenticeship)
    db.session.commit()
    return apprenticeship


def make_placement(apprenticeship: Apprenticeship, *, supervisor=None, host_code: str = "E09000012",
                   team: Team | None = None, starts_on: date | None = None, ends_on: date | None = None,
                   ksbs: list[Ksb] | None = None) -> Placement:
    """A placement, by default from the apprenticeship's start to 100 days from today."""
    supervisor = supervisor or make_supervisor(f"supervisor-{next(_numbers)}@example.org", organisation_code=host_code)
    team = team or make_team(host_code)
    placement = Placement(
        apprenticeship_id=apprenticeship.id, host_organisation_id=organisation(host_code).id, team_id=team.id,
        supervisor_id=supervisor.id, starts_on=starts_on or apprenticeship.starts_on,
        ends_on=ends_on or clock.today() + timedelta(days=100), objectives="Build and run digital services.",
        ksbs=list(ksbs or []),
    )
    db.session.add(placement)
    db.session.commit()
    db.session.refresh(apprenticeship)
    return placement


def make_otj(apprenticeship: Apprenticeship, *, on: date | None = None, minutes: int = 120,
             activity_type: ActivityType = ActivityType.TEACHING, status: OtjStatus = OtjStatus.SUBMITTED,
             ksbs: list[Ksb] | None = None, placement: Placement | None = None, description: str | None = None,
             logged_by=None, decided_by=None) -> OtjActivity:
    """Off-the-job hours straight into the table (no validation): for totals, queues and access tests."""
    on = on or clock.today() - timedelta(days=1)
    if placement is None:
        placement = next((p for p in apprenticeship.placements if p.starts_on <= on <= p.ends_on), None)
    ksbs = ksbs if ksbs is not None else apprenticeship.standard_version.ksbs[:1]
    activity = OtjActivity(
        apprenticeship_id=apprenticeship.id, placement_id=placement.id if placement else None, occurred_on=on,
        minutes=minutes, activity_type=activity_type, description=description or f"Learning {next(_numbers)}",
        status=status, logged_by_id=(logged_by or apprenticeship.apprentice).id, ksbs=list(ksbs),
    )
    if status is not OtjStatus.SUBMITTED:
        from app.models.types import utcnow

        activity.decided_by_id = (decided_by.id if decided_by else placement.supervisor_id if placement else None)
        activity.decided_at = utcnow()
    db.session.add(activity)
    db.session.commit()
    return activity
