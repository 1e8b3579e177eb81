"""Intakes: cohorts of apprentices recruited together (e.g. "September 2025"), each with a coordinator and a
start date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app import policy
from app.extensions import db
from app.models import Apprenticeship, ApprenticeshipStatus, Intake, Person, Role, RoleGrant, StandardVersion
from app.services import ServiceError, audit, review_rows

NAME_MAX = 100


def _check(name: str | None, starts_on: date | None, coordinator: Person | None, *, intake: Intake | None = None,
           check_coordinator: bool = True) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ServiceError("Enter a name for the intake, like 'September 2025'", "name")
    if len(name) > NAME_MAX:
        raise ServiceError(f"The intake's name must be {NAME_MAX} characters or fewer", "name")
    same_name = select(Intake.id).where(func.lower(Intake.name) == name.lower())
    if intake is not None:
        same_name = same_name.where(Intake.id != intake.id)
    if db.session.scalar(same_name) is not None:
        raise ServiceError(f"There is already an intake called {name}: choose another name", "name")
    if starts_on is None:
        raise ServiceError("Enter the date the intake starts", "starts_on")
    if coordinator is None:
        raise ServiceError("Select the intake's coordinator", "coordinator")
    if check_coordinator:
        if not coordinator.has_role(Role.COORDINATOR):
            raise ServiceError(f"{coordinator.name} is not a coordinator: select someone with the coordinator role",
                               "coordinator")
        if not coordinator.active:
            raise ServiceError(f"{coordinator.name}'s account has been deactivated: select another coordinator",
                               "coordinator")
    return name


def create_intake(actor: Person | None, name: str, starts_on: date | None, coordinator: Person | None) -> Intake:
    name = _check(name, starts_on, coordinator)
    intake = Intake(name=name, starts_on=starts_on, coordinator_id=coordinator.id)
    db.session.add(intake)
    db.session.flush()
    audit.record(actor, "intake.created", intake, f"Added the intake {name}", starts_on=starts_on.isoformat(),
                 coordinator=coordinator.email)
    return intake


def update_intake(actor: Person | None, intake: Intake, *, name: str, starts_on: date | None,
                  coordinator: Person | None) -> Intake:
    """Change an intake's name, start date or coordinator. A coordinator kept unchanged is not checked
    again (their role may have moved on since)."""
    if actor is not None and not policy.can_change_intake(actor, intake):
        raise ServiceError(f"You cannot change the intake {intake.name}: only its coordinator, a programme-wide "
                           "coordinator or an admin can")
    name = _check(name, starts_on, coordinator, intake=intake,
                  check_coordinator=coordinator is None or coordinator.id != intake.coordinator_id)
    before = {"name": intake.name, "starts_on": intake.starts_on.isoformat(), "coordinator": intake.coordinator.email}
    after = {"name": name, "starts_on": starts_on.isoformat(), "coordinator": coordinator.email}
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if not changes:
        return intake
    intake.name, intake.starts_on, intake.coordinator = name, starts_on, coordinator
    db.session.flush()
    audit.record(actor, "intake.updated", intake, f"Changed the intake {name}: {', '.join(changes)}", **changes)
    review_rows.refresh_for(intakes=[intake.id] if "name" in changes else [])
    return intake


def possible_coordinators(current: Person | None = None) -> list[Person]:
    """Active people with the coordinator role, in name order (with ``current`` kept in the list)."""
    people = list(db.session.scalars(
        select(Person)
        .where(Person.active.is_(True),
               Person.id.in_(select(RoleGrant.person_id).where(RoleGrant.role == Role.COORDINATOR)))
        .options(joinedload(Person.organisation))
        .order_by(Person.name, Person.id)))
    if current is not None and current not in people:
        people.append(current)
    return people


def get_intake(intake_id: int) -> Intake | None:
    return db.session.scalar(select(Intake).where(Intake.id == intake_id).options(joinedload(Intake.coordinator)))


# The list of intakes ------------------------------------------------------------------------------


def intakes_query(viewer: Person | None = None) -> Select:
    """The intakes ``viewer`` may see (every one for the command line, admins and programme-wide coordinators;
    for a borough coordinator those they coordinate or with an apprentice of theirs), the latest first, with
    the coordinator."""
    query = select(Intake).options(joinedload(Intake.coordinator)).order_by(Intake.starts_on.desc(), Intake.id.desc())
    scope = policy.apprenticeship_scope_filter(viewer) if viewer is not None else None
    if scope is not None:
        theirs = select(Apprenticeship.id).where(Apprenticeship.intake_id == Intake.id, scope).exists()
        query = query.where(or_(Intake.coordinator_id == viewer.id, theirs))
    return query


@dataclass
class IntakeListing:
    intake: Intake
    counts: dict[ApprenticeshipStatus, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        """E.g. '12 active, 2 break in learning'."""
        return ", ".join(f"{self.counts[s]} {s.label.lower()}" for s in ApprenticeshipStatus if self.counts.get(s))


def intake_listings(intakes: list[Intake], scope_filter=None) -> list[IntakeListing]:
    """The intakes with their apprentices counted by status, in one aggregate query. ``scope_filter``
    (a condition on Apprenticeship, see ``policy.apprenticeship_scope_filter``) limits what is counted."""
    listings = {intake.id: IntakeListing(intake) for intake in intakes}
    if listings:
        query = (select(Apprenticeship.intake_id, Apprenticeship.status, func.count())
                 .where(Apprenticeship.intake_id.in_(listings))
                 .group_by(Apprenticeship.intake_id, Apprenticeship.status))
        if scope_filter is not None:
            query = query.where(scope_filter)
        for intake_id, status, number in db.session.execute(query):
            listings[intake_id].counts[status] = number
    return list(listings.values())


def intake_apprenticeships(intake: Intake, viewer_scope_filter=None) -> list[Apprenticeship]:
    """The intake's apprenticeships the viewer may see (``viewer_scope_filter`` as from
    ``policy.apprenticeship_scope_filter``; None for all), in the apprentices' name order."""
    query = (select(Apprenticeship)
             .join(Apprenticeship.apprentice)
             .where(Apprenticeship.intake_id == intake.id)
             .options(joinedload(Apprenticeship.apprentice), joinedload(Apprenticeship.employer),
                      selectinload(Apprenticeship.standard_version).joinedload(StandardVersion.standard))
             .order_by(Person.name, Apprenticeship.id))
    if viewer_scope_filter is not None:
        query = query.where(viewer_scope_filter)
    return list(db.session.scalars(query))
