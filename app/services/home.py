"""What a signed-in person's home page offers, by role."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from app import policy
from app.models import Person, Role


@dataclass
class Link:
    text: str
    href: str


@dataclass
class HomeSection:
    heading: str
    description: str
    links: list[Link]


def home_sections(person: Person) -> list[HomeSection]:
    sections: list[HomeSection] = []
    roles = person.roles
    if Role.LEARNER in roles:
        sections.append(HomeSection(
            "Leadership courses",
            "Digital-skills courses for public-sector leaders, with CPD hours and a certificate.",
            [Link("Find a course", url_for("learning.courses"))],
        ))
    if Role.APPRENTICE in roles:
        sections.append(HomeSection(
            "Your apprenticeship",
            "Your apprenticeship standard, placements, off-the-job hours and progress reviews will appear "
            "here once a coordinator sets up your apprenticeship record.",
            [],
        ))
    if Role.SUPERVISOR in roles:
        sections.append(HomeSection(
            "Apprentices you supervise",
            "Off-the-job hours waiting for your approval and progress reviews to sign will appear here "
            "when apprentices are placed with you.",
            [],
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
