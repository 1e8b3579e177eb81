"""London's organisations and their teams."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from importlib import resources

from sqlalchemy import func, select

from app.extensions import db
from app.models import Organisation, OrganisationKind, Person, Team
from app.services import ServiceError, audit

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,19}$")


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


def reference_rows() -> list[dict[str, str]]:
    text = resources.files("app.data").joinpath("organisations.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_reference_organisations() -> LoadReport:
    """Create or update the 33 London local authorities and the partner bodies; safe to repeat."""
    report = LoadReport()
    existing = {o.code: o for o in db.session.scalars(select(Organisation))}
    for row in reference_rows():
        kind = OrganisationKind(row["kind"])
        organisation = existing.get(row["code"])
        if organisation is None:
            db.session.add(Organisation(code=row["code"], name=row["name"], kind=kind))
            report.created.append(row["code"])
        elif organisation.name != row["name"] or organisation.kind is not kind:
            organisation.name, organisation.kind = row["name"], kind
            report.updated.append(row["code"])
        else:
            report.unchanged += 1
    db.session.flush()
    return report


def list_organisations(active_only: bool = False) -> list[Organisation]:
    query = select(Organisation).order_by(Organisation.kind, Organisation.name)
    if active_only:
        query = query.where(Organisation.active.is_(True))
    return list(db.session.scalars(query))


def create_organisation(actor: Person | None, *, code: str, name: str, kind: OrganisationKind) -> Organisation:
    code = (code or "").strip().upper()
    name = (name or "").strip()
    if not code:
        raise ServiceError("Enter a code for the organisation", field="code")
    if not CODE_PATTERN.match(code):
        raise ServiceError("Code must be 2 to 20 letters, digits or hyphens, like LOTI", field="code")
    if not name:
        raise ServiceError("Enter the organisation's name", field="name")
    if len(name) > 200:
        raise ServiceError("Name must be 200 characters or fewer", field="name")
    if db.session.scalar(select(Organisation).where(Organisation.code == code)):
        raise ServiceError(f"An organisation with the code {code} already exists", field="code")
    if db.session.scalar(select(Organisation).where(func.lower(Organisation.name) == name.lower())):
        raise ServiceError(f"An organisation called {name} already exists", field="name")
    organisation = Organisation(code=code, name=name, kind=kind)
    db.session.add(organisation)
    db.session.flush()
    audit.record(actor, "organisation.created", organisation, f"Added organisation {name} ({code})")
    return organisation


def add_team(actor: Person | None, organisation: Organisation, name: str) -> Team:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Enter the team's name", field="name")
    if len(name) > 200:
        raise ServiceError("Team name must be 200 characters or fewer", field="name")
    duplicate = db.session.scalar(
        select(Team).where(Team.organisation_id == organisation.id, func.lower(Team.name) == name.lower())
    )
    if duplicate:
        raise ServiceError(f"{organisation.name} already has a team called {duplicate.name}", field="name")
    team = Team(organisation=organisation, name=name)
    db.session.add(team)
    db.session.flush()
    audit.record(actor, "team.created", team, f"Added team {name} to {organisation.name}",
                 organisation=organisation.code)
    return team
