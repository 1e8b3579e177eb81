"""Demo people for every role in several boroughs, so a new developer can sign in and look around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Course, CourseRun, Organisation, Person, Role, RunKind, Team
from app.services import accounts, clock, enrolment, organisations, runs

# Meets the password policy; printed by `make run`. Never used outside development.
DEMO_PASSWORD = "demo-pathways-on-the-thames"  # noqa: S105


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    organisation: str
    roles: tuple[Role, ...]
    scope: tuple[str, ...] = ()
    team: str | None = None


DEMO_TEAMS = {
    "E09000012": ["Digital Services", "Data and Insight", "ICT Service Desk"],
    "E09000007": ["Digital and Data", "Customer Services"],
    "E09000023": ["Digital Transformation"],
    "E09000019": ["Digital Services"],
    "LC": ["Digital Programme"],
}

DEMO_PEOPLE = [
    DemoPerson("admin@pathways.example", "Ada Okafor", "LC", (Role.ADMIN,), team="Digital Programme"),
    DemoPerson("coordinator@pathways.example", "Priya Shah", "LC", (Role.COORDINATOR,), team="Digital Programme"),
    DemoPerson("hackney.coordinator@pathways.example", "Tom Byrne", "E09000012", (Role.COORDINATOR,),
               scope=("E09000012",), team="Digital Services"),
    DemoPerson("camden.coordinator@pathways.example", "Grace Mensah", "E09000007", (Role.COORDINATOR,),
               scope=("E09000007", "E09000019"), team="Digital and Data"),
    DemoPerson("supervisor@pathways.example", "Samuel Adeyemi", "E09000012", (Role.SUPERVISOR,),
               team="Digital Services"),
    DemoPerson("lewisham.supervisor@pathways.example", "Hannah Kowalski", "E09000023", (Role.SUPERVISOR,),
               team="Digital Transformation"),
    DemoPerson("apprentice@pathways.example", "Jordan Campbell", "E09000012", (Role.APPRENTICE,),
               team="Digital Services"),
    DemoPerson("camden.apprentice@pathways.example", "Amina Hassan", "E09000007", (Role.APPRENTICE,),
               team="Digital and Data"),
    DemoPerson("learner@pathways.example", "Claire Donovan", "E09000007", (Role.LEARNER,), team="Customer Services"),
    DemoPerson("lewisham.learner@pathways.example", "Marcus Reid", "E09000023", (Role.LEARNER, Role.SUPERVISOR),
               team="Digital Transformation"),
    DemoPerson("islington.learner@pathways.example", "Fatima Begum", "E09000019", (Role.LEARNER,),
               team="Digital Services"),
]


def load_demo_data() -> tuple[int, int]:
    """Create the demo organisations' teams and people that are missing; returns (created, existing)."""
    organisations.load_reference_organisations()
    by_code = {o.code: o for o in db.session.scalars(select(Organisation))}
    teams: dict[tuple[str, str], Team] = {}
    for code, names in DEMO_TEAMS.items():
        organisation = by_code[code]
        existing = {t.name: t for t in organisation.teams}
        for name in names:
            teams[(code, name)] = existing.get(name) or organisations.add_team(None, organisation, name)
    created = existing_count = 0
    for demo in DEMO_PEOPLE:
        if db.session.scalar(select(Person).where(Person.email == demo.email)):
            existing_count += 1
            continue
        accounts.create_person(
            None,
            email=demo.email,
            name=demo.name,
            organisation=by_code[demo.organisation],
            roles=demo.roles,
            scope=[by_code[c] for c in demo.scope],
            team=teams.get((demo.organisation, demo.team)) if demo.team else None,
            password=DEMO_PASSWORD,
        )
        created += 1
    db.session.flush()
    load_demo_runs()
    load_demo_single_sign_on(by_code)
    return created, existing_count


def load_demo_single_sign_on(by_code: dict[str, Organisation]) -> None:
    """Southwark signs in with the demo council identity provider (``make run`` starts it beside Pathways): its
    coordinator is invited, and anyone else in its domain becomes a learner on first sign-in."""
    from app.services import single_sign_on
    from app.services.demo_identity_provider import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        DEMO_DOMAIN,
        DEMO_ORGANISATION,
        demo_issuer,
    )

    organisation = by_code[DEMO_ORGANISATION]
    provider = single_sign_on.provider_of(organisation)
    if provider is None or provider.issuer != demo_issuer():
        single_sign_on.save_provider(None, organisation, issuer=demo_issuer(), client_id=DEMO_CLIENT_ID,
                                     client_secret=DEMO_CLIENT_SECRET, allowed_domains=DEMO_DOMAIN,
                                     creates_learners=True)
    email = f"coordinator@{DEMO_DOMAIN}"
    if db.session.scalar(select(Person).where(Person.email == email)) is None:
        accounts.create_person(None, email=email, name="Daniel Osei", organisation=organisation,
                               roles=(Role.COORDINATOR,), scope=[organisation], invite=False)


def load_demo_runs() -> None:
    """A self-paced run of every synced course, one scheduled cohort, and a demo learner enrolled."""
    courses = db.session.scalars(select(Course).where(Course.retired_at.is_(None)).order_by(Course.title)).all()
    for course in courses:
        if not any(r.kind is RunKind.SELF_PACED for r in course.runs):
            runs.create_run(None, course, kind=RunKind.SELF_PACED, name="Self-paced")
    cohort_course = next((c for c in courses if c.slug == "leading-digital-change"), None)
    if cohort_course is not None and not any(r.kind is RunKind.SCHEDULED for r in cohort_course.runs):
        start = clock.today() + timedelta(days=28)
        run = runs.create_run(None, cohort_course, kind=RunKind.SCHEDULED, name="London leaders cohort",
                              starts_on=start, ends_on=start + timedelta(days=42),
                              enrolment_deadline=start - timedelta(days=7), capacity=20)
        opening = datetime.combine(start, time(9, 30), tzinfo=UTC)
        runs.add_live_session(None, run, title="Opening workshop", starts_at=opening,
                              ends_at=opening + timedelta(hours=2), location="London Councils, 59½ Southwark Street")
    learner = db.session.scalar(select(Person).where(Person.email == "learner@pathways.example"))
    first_run = db.session.scalar(select(CourseRun).join(Course).where(Course.slug == "using-data-well",
                                                                          CourseRun.kind == RunKind.SELF_PACED))
    if learner is not None and first_run is not None and enrolment.find_enrolment(first_run, learner) is None:
        enrolment.enrol(None, learner, first_run)
