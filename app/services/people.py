"""Finding people: the lists coordinators and admins work from, always within their scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, or_, select

from app import policy
from app.extensions import db
from app.models import Organisation, Person, Role, RoleGrant

PAGE_SIZE = 25


@dataclass
class PeopleFilter:
    search: str = ""
    organisation_id: int | None = None
    role: Role | None = None
    status: str = "active"  # active, deactivated or all


def people_query(actor: Person, filters: PeopleFilter) -> Select:
    query = select(Person).join(Person.organisation).order_by(Person.name, Person.id)
    scope = policy.managed_organisation_ids(actor)
    if scope is not None:
        query = query.where(Person.organisation_id.in_(scope or {-1}))
    if filters.search:
        like = f"%{filters.search.strip().lower()}%"
        query = query.where(or_(Person.email.like(like), Person.name.ilike(like)))
    if filters.organisation_id:
        query = query.where(Person.organisation_id == filters.organisation_id)
    if filters.role:
        query = query.where(Person.id.in_(select(RoleGrant.person_id).where(RoleGrant.role == filters.role)))
    if filters.status == "active":
        query = query.where(Person.active.is_(True))
    elif filters.status == "deactivated":
        query = query.where(Person.active.is_(False))
    return query


def manageable_organisations(actor: Person) -> list[Organisation]:
    """Organisations ``actor`` may add people to, in name order."""
    scope = policy.managed_organisation_ids(actor)
    query = select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.name)
    if scope is not None:
        query = query.where(Organisation.id.in_(scope or {-1}))
    return list(db.session.scalars(query))


def get_manageable_person(actor: Person, person_id: int) -> Person | None:
    """The person if ``actor`` may manage them; ``None`` otherwise (shown as not found)."""
    person = db.session.get(Person, person_id)
    if person is None or not policy.can_manage_person(actor, person):
        return None
    return person
