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
        sections.append(_apprentice_section(person))
    if Role.SUPERVISOR in roles:
        sections.append(_supervisor_section(person))
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


def _apprentice_section(person: Person) -> HomeSection:
    from app.services import apprenticeships, progress_reviews

    current = apprenticeships.current_apprenticeship(person)
    if current is None:
        return HomeSection(
            "Your apprenticeship",
            "Your apprenticeship standard, placements, off-the-job hours and progress reviews will appear "
            "here once a coordinator sets up your apprenticeship record.",
            [],
        )
    to_sign = progress_reviews.reviews_to_sign(person)
    links = [Link("Your apprenticeship", url_for("apprenticeships.show", apprenticeship_id=current.id)),
             Link("Log off-the-job hours", url_for("apprenticeships.log_otj", apprenticeship_id=current.id)),
             Link("Your KSBs and gateway checklist", url_for("apprenticeships.ksbs", apprenticeship_id=current.id))]
    links += [Link(f"Sign progress review {item.review.sequence}",
                   url_for("apprenticeships.review", apprenticeship_id=current.id, review_id=item.review.id))
              for item in to_sign if item.review.apprenticeship_id == current.id]
    standard = current.standard_version.standard
    return HomeSection(
        "Your apprenticeship",
        f"{standard.title}, level {standard.level}: your placements, off-the-job hours, progress reviews "
        "and KSB coverage.",
        links,
    )


def _supervisor_section(person: Person) -> HomeSection:
    from app.services import off_the_job, progress_reviews

    waiting = off_the_job.approval_queue(person, page=1).total
    to_sign = len(progress_reviews.reviews_to_sign(person))
    return HomeSection(
        "Apprentices you supervise",
        f"{waiting} off-the-job {'entry' if waiting == 1 else 'entries'} waiting for your approval and "
        f"{to_sign} progress {'review' if to_sign == 1 else 'reviews'} to sign.",
        [Link("Apprentices you supervise", url_for("apprenticeships.supervising"))],
    )
