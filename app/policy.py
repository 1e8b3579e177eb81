"""Who may do what. Every view declares its access through ``public``, ``signed_in`` or ``requires``;
a test fails for any route that declares none. Object-level rules live here too, so views,
CLI and templates ask one place."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, url_for
from flask_login import current_user

from app.models import Organisation, Person, Role

PUBLIC = "public"
SIGNED_IN = "signed in"


def public(view):
    """Open to everyone, signed in or not."""
    view.access = PUBLIC
    return view


def signed_in(view):
    """Open to anyone signed in."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            from app.extensions import login_manager

            return login_manager.unauthorized()
        return view(*args, **kwargs)

    wrapper.access = SIGNED_IN
    return wrapper


def requires(rule: Callable[[Person], bool]):
    """Open to signed-in people for whom ``rule(person)`` holds; others get 403."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                from app.extensions import login_manager

                return login_manager.unauthorized()
            if not rule(current_user):
                abort(403)
            return view(*args, **kwargs)

        wrapper.access = rule.__name__
        return wrapper

    return decorate


# Rules about a signed-in person -------------------------------------------------------------


def is_admin(person: Person) -> bool:
    return person.is_authenticated and person.has_role(Role.ADMIN)


def is_coordinator(person: Person) -> bool:
    return person.is_authenticated and person.has_role(Role.COORDINATOR)


def can_manage_people(person: Person) -> bool:
    return is_admin(person) or is_coordinator(person)


def can_manage_organisations(person: Person) -> bool:
    return is_admin(person)


def can_view_outbox(person: Person) -> bool:
    return is_admin(person)


def can_view_audit_trail(person: Person) -> bool:
    return is_admin(person)


# Rules about a person and an object ---------------------------------------------------------


def managed_organisation_ids(person: Person) -> set[int] | None:
    """Organisations whose people ``person`` may manage; ``None`` means every organisation."""
    if is_admin(person):
        return None
    if is_coordinator(person):
        return person.coordinator_scope_ids
    return set()


def can_manage_in_organisation(person: Person, organisation: Organisation | int) -> bool:
    scope = managed_organisation_ids(person)
    organisation_id = organisation if isinstance(organisation, int) else organisation.id
    return scope is None or organisation_id in scope


def can_change_intake(actor: Person, intake) -> bool:
    """Admins and programme-wide coordinators change any intake; a borough coordinator only one they coordinate
    (so nobody makes themselves coordinator of, and so the recipient of news about, another borough's intake)."""
    return managed_organisation_ids(actor) is None or (is_coordinator(actor) and intake.coordinator_id == actor.id)


def can_manage_person(actor: Person, person: Person) -> bool:
    """Admins manage everyone; coordinators manage people of their organisations, except admins and coordinators
    of organisations beyond their own (a borough coordinator cannot demote a programme-wide one employed there)."""
    if is_admin(actor):
        return True
    if not is_coordinator(actor) or person.has_role(Role.ADMIN):
        return False
    if not can_manage_in_organisation(actor, person.organisation_id):
        return False
    mine = managed_organisation_ids(actor)
    if mine is not None and person.has_role(Role.COORDINATOR):
        theirs = person.coordinator_scope_ids
        return theirs is not None and theirs <= mine
    return True


def grantable_roles(actor: Person) -> list[Role]:
    """Roles ``actor`` may give; only admins make admins."""
    if is_admin(actor):
        return list(Role)
    if is_coordinator(actor):
        return [r for r in Role if r is not Role.ADMIN]
    return []


def can_grant_programme_wide_scope(actor: Person) -> bool:
    return managed_organisation_ids(actor) is None


def _navigation() -> tuple:
    """The service navigation: each link's endpoint and text, and the rule that shows it (None: everyone)."""
    return (
        ("main.home", "Home", None),
        ("learning.courses", "Courses", None),
        ("runs.index", "Course runs", can_manage_runs),
        ("apprenticeships.mine", "My apprenticeship", is_apprentice),
        ("apprenticeships.supervising", "Supervising", is_supervisor),
        ("apprenticeships.index", "Apprenticeships", can_manage_apprenticeships),
        ("intakes.index", "Intakes", can_manage_apprenticeships),
        ("cohort_review.apprentices", "Cohort review", can_review_cohorts),
        ("people.index", "People", can_manage_people),
        ("admin.organisations", "Organisations", can_manage_organisations),
        ("admin.outbox", "Outbox", can_view_outbox),
        ("admin.audit_trail", "Audit trail", can_view_audit_trail),
        ("scheduling.index", "Scheduled jobs", can_manage_scheduled_jobs),
    )


def navigation_for(person: Person, path: str = "") -> list[dict]:
    """Links in the service navigation for what this person's roles allow; the one whose section ``path`` is in
    is marked active."""
    if not person or not person.is_authenticated:
        return []
    items = []
    for endpoint, text, rule in _navigation():
        if rule is None or rule(person):
            href = url_for(endpoint)
            items.append({"href": href, "text": text,
                          "active": path == href or (href != "/" and path.startswith(href))})
    return items


def can_change_run(actor: Person, run) -> bool:
    """Admins and programme-wide coordinators change any run (its live sessions, say); a borough coordinator
    only a run they set up."""
    return managed_organisation_ids(actor) is None or (is_coordinator(actor) and run.created_by_id == actor.id)


def can_manage_runs(person: Person) -> bool:
    """Admins and coordinators set up course runs; on a run's roster, coordinators act only on the people
    of their organisations."""
    return is_admin(person) or is_coordinator(person)


# Apprenticeships ------------------------------------------------------------------------------


def is_supervisor(person: Person) -> bool:
    return person.is_authenticated and person.has_role(Role.SUPERVISOR)


def is_apprentice(person: Person) -> bool:
    return person.is_authenticated and person.has_role(Role.APPRENTICE)


def can_manage_apprenticeships(person: Person) -> bool:
    """Coordinators and admins keep apprenticeship records; within them, borough coordinators act only
    on apprentices employed by or placed in their organisations."""
    return is_admin(person) or is_coordinator(person)


def can_manage_standards(person: Person) -> bool:
    return is_admin(person) or is_coordinator(person)


def apprenticeship_scope_filter(person: Person):
    """A SQL condition on ``Apprenticeship`` for the records ``person`` coordinates: employed by or placed
    in their organisations; ``None`` means every record."""
    from sqlalchemy import false, or_, select

    from app.models import Apprenticeship, Placement

    scope = managed_organisation_ids(person)
    if scope is None:
        return None
    if not scope:
        return false()
    placed = select(Placement.apprenticeship_id).where(Placement.host_organisation_id.in_(scope))
    return or_(Apprenticeship.employer_id.in_(scope), Apprenticeship.id.in_(placed))


def coordinates_apprenticeship(person: Person, apprenticeship) -> bool:
    """Full record and editing: admins, programme-wide coordinators, and coordinators of the employer
    or of a host organisation of any placement."""
    scope = managed_organisation_ids(person)
    if scope is None:
        return True
    if not scope:
        return False
    if apprenticeship.employer_id in scope:
        return True
    return any(p.host_organisation_id in scope for p in apprenticeship.placements)


def supervises_apprenticeship(person: Person, apprenticeship) -> bool:
    """A supervisor of any placement, current or past (past ones read only)."""
    return any(p.supervisor_id == person.id for p in apprenticeship.placements)


def can_view_apprenticeship(person: Person, apprenticeship) -> bool:
    if not person.is_authenticated:
        return False
    return (
        apprenticeship.apprentice_id == person.id
        or supervises_apprenticeship(person, apprenticeship)
        or coordinates_apprenticeship(person, apprenticeship)
    )


def can_edit_apprenticeship(person: Person, apprenticeship) -> bool:
    return person.is_authenticated and coordinates_apprenticeship(person, apprenticeship)


def can_log_otj_for(person: Person, apprenticeship) -> bool:
    """The apprentice logs their own hours; a coordinator may log on their behalf."""
    return apprenticeship.apprentice_id == person.id or can_edit_apprenticeship(person, apprenticeship)


def can_decide_otj(person: Person, activity) -> bool:
    """The supervisor of the placement in force on the activity's day, or a coordinator of the record.
    Nobody approves their own hours, nor hours they logged on someone's behalf."""
    if person.id in (activity.apprenticeship.apprentice_id, activity.logged_by_id):
        return False
    if activity.placement is not None and activity.placement.supervisor_id == person.id:
        return True
    return can_edit_apprenticeship(person, activity.apprenticeship)


def can_review_cohorts(person: Person) -> bool:
    """Cohort review pages (intakes, course runs, all apprentices in scope): coordinators and admins. What each
    sees is limited to their organisations by ``apprenticeship_scope_filter`` / ``managed_organisation_ids``."""
    return is_admin(person) or is_coordinator(person)


def can_manage_scheduled_jobs(person: Person) -> bool:
    """The scheduled jobs page, running a job now and the reminder preview: admins only."""
    return is_admin(person)

