"""What a signed-in person's home page offers: a panel for each of their roles (``app/services/homes``) saying how
they stand and what to do next, then the links of every part of Pathways they may use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import url_for

from app import policy
from app.models import Person, Role
from app.services.homes import admin, apprentice, coordinator, leader, supervisor


@dataclass
class Link:
    text: str
    href: str


@dataclass
class HomeSection:
    heading: str
    description: str
    links: list[Link]


@dataclass
class Home:
    """The panels of a person's roles (None where the person has not the role), and the link sections."""

    apprentice: apprentice.ApprenticePanel | None
    supervisor: supervisor.SupervisorPanel | None
    coordinator: coordinator.CoordinatorPanel | None
    admin: admin.AdminPanel | None
    leader: leader.LeaderPanel | None
    sections: list[HomeSection]


def home_for(person: Person, today: date) -> Home:
    return Home(apprentice=apprentice.panel(person, today), supervisor=supervisor.panel(person, today),
                coordinator=coordinator.panel(person, today), admin=admin.panel(person, today),
                leader=leader.panel(person, today), sections=home_sections(person))


def home_sections(person: Person) -> list[HomeSection]:
    sections: list[HomeSection] = []
    roles = person.roles
    if Role.LEARNER in roles:
        sections.append(HomeSection(
            "Leadership courses",
            "Digital-skills courses for public-sector leaders, with CPD hours and a certificate.",
            [Link("Find a course", url_for("learning.courses"))],
        ))
    # Apprentices and supervisors have their panels (``app/services/homes``), with the links they need.
    if policy.can_manage_apprenticeships(person):
        sections.append(HomeSection(
            "Apprenticeships",
            "Apprenticeship records, intakes, placements across boroughs, off-the-job hours and reviews, "
            "and the apprenticeship standards with their KSBs.",
            [Link("Apprenticeships", url_for("apprenticeships.index")), Link("Intakes", url_for("intakes.index")),
             Link("Hours waiting for approval", url_for("apprenticeships.supervising")),
             Link("Apprenticeship standards", url_for("standards.index"))],
        ))
    if policy.can_manage_people(person):
        scope = policy.managed_organisation_ids(person)
        reach = "everyone in Pathways" if scope is None else "people in the organisations you coordinate"
        sections.append(HomeSection(
            "People",
            f"Invite people, change their roles and deactivate accounts for {reach}.",
            [Link("Manage people", url_for("people.index")), Link("Invite someone", url_for("people.new")),
             Link("Invite people from a CSV file", url_for("people.import_upload"))],
        ))
    if policy.can_manage_runs(person):
        sections.append(HomeSection(
            "Course runs",
            "Runs of the leadership courses: rosters, enrolments, waitlists and live sessions.",
            [Link("Course runs", url_for("runs.index"))],
        ))
    if policy.is_admin(person):
        sections.append(HomeSection(
            "Running Pathways",
            "Organisations and teams, emails waiting in the outbox and the audit trail of changes.",
            [Link("Organisations and teams", url_for("admin.organisations")),
             Link("Email outbox", url_for("admin.outbox")), Link("Audit trail", url_for("admin.audit_trail"))],
        ))
    return sections
