"""What a signed-in person's home page offers, by role."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import url_for
from sqlalchemy import bindparam, func, select

from app import policy
from app.extensions import db
from app.models import Apprenticeship, Person, Role, Standard, StandardVersion


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
    from app.services import progress_reviews

    # Reviews waiting for this person's signature: read once for the apprentice's and the supervisor's sections.
    waiting = functools.cache(lambda: progress_reviews.reviews_waiting_for(person))
    if Role.LEARNER in roles:
        sections.append(HomeSection(
            "Leadership courses",
            "Digital-skills courses for public-sector leaders, with CPD hours and a certificate.",
            [Link("Find a course", url_for("learning.courses"))],
        ))
    if Role.APPRENTICE in roles:
        sections.append(_apprentice_section(person, waiting))
    if Role.SUPERVISOR in roles:
        sections.append(_supervisor_section(person, waiting))
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


@functools.cache
def _apprenticeships_of():
    """``:person_id``'s apprenticeships, newest first, with the standard each is on. Built once."""
    return (
        select(Apprenticeship.id, Apprenticeship.status, Standard.title, Standard.level)
        .join(StandardVersion, Apprenticeship.standard_version_id == StandardVersion.id)
        .join(Standard, StandardVersion.standard_id == Standard.id)
        .where(Apprenticeship.apprentice_id == bindparam("person_id"))
        .order_by(Apprenticeship.starts_on.desc(), Apprenticeship.id.desc())
    )


def _current_apprenticeship(person: Person):
    """The apprenticeship in progress, or else the latest one (``apprenticeships.current_apprenticeship``),
    with just what the section shows."""
    from app.services.apprenticeships import IN_PROGRESS

    mine = db.session.execute(_apprenticeships_of(), {"person_id": person.id}).all()
    return next((a for a in mine if a.status in IN_PROGRESS), mine[0] if mine else None)


def _apprentice_section(person: Person, waiting) -> HomeSection:
    current = _current_apprenticeship(person)
    if current is None:
        return HomeSection(
            "Your apprenticeship",
            "Your apprenticeship standard, placements, off-the-job hours and progress reviews will appear "
            "here once a coordinator sets up your apprenticeship record.",
            [],
        )
    links = [Link("Your apprenticeship", url_for("apprenticeships.show", apprenticeship_id=current.id)),
             Link("Log off-the-job hours", url_for("apprenticeships.log_otj", apprenticeship_id=current.id)),
             Link("Your KSBs and gateway checklist", url_for("apprenticeships.ksbs", apprenticeship_id=current.id))]
    links += [Link(f"Sign progress review {item.sequence}",
                   url_for("apprenticeships.review", apprenticeship_id=current.id, review_id=item.review_id))
              for item in waiting() if item.apprenticeship_id == current.id]
    return HomeSection(
        "Your apprenticeship",
        f"{current.title}, level {current.level}: your placements, off-the-job hours, progress reviews "
        "and KSB coverage.",
        links,
    )


def _supervisor_section(person: Person, waiting) -> HomeSection:
    from app.services import off_the_job

    queue = off_the_job.queue_query(person).order_by(None).subquery()
    entries = db.session.scalar(select(func.count()).select_from(queue))
    to_sign = len(waiting())
    return HomeSection(
        "Apprentices you supervise",
        f"{entries} off-the-job {'entry' if entries == 1 else 'entries'} waiting for your approval and "
        f"{to_sign} progress {'review' if to_sign == 1 else 'reviews'} to sign.",
        [Link("Apprentices you supervise", url_for("apprenticeships.supervising"))],
    )
