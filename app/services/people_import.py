"""Inviting many people from a CSV file: checked row by row and previewed before anything is saved,
then created all together or not at all."""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import func, select

from app import policy
from app.extensions import db
from app.models import Organisation, Person, Role, Team
from app.services import ServiceError, accounts

COLUMNS = ["email", "name", "organisation", "roles", "scope", "team"]
REQUIRED_COLUMNS = ["email", "name", "organisation", "roles"]
MAX_ROWS = 1000


@dataclass
class ImportRow:
    line: int
    email: str
    name: str
    organisation: Organisation | None = None
    roles: list[Role] = field(default_factory=list)
    scope: list[Organisation] = field(default_factory=list)
    team: Team | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportCheck:
    rows: list[ImportRow] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_errors and bool(self.rows) and all(r.ok for r in self.rows)

    @property
    def error_count(self) -> int:
        return len(self.file_errors) + sum(len(r.errors) for r in self.rows)


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ServiceError(f"Line {line}: the file is not UTF-8 text. Save it as 'CSV UTF-8' and try again",
                           field="file") from None


def _split(value: str | None) -> list[str]:
    return [part for part in (value or "").replace(",", ";").replace(" ", ";").split(";") if part]


def check_import(actor: Person, text: str) -> ImportCheck:
    """Check every row of a CSV file; changes nothing."""
    check = ImportCheck()
    reader = csv.DictReader(io.StringIO(text))
    headers = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not headers:
        check.file_errors.append("The file is empty. The first line must name the columns: " + ", ".join(COLUMNS))
        return check
    missing = [c for c in REQUIRED_COLUMNS if c not in headers]
    unknown = [h for h in headers if h not in COLUMNS]
    if missing:
        check.file_errors.append(f"Line 1: the file has no {', '.join(missing)} column. "
                                 f"The columns are: {', '.join(COLUMNS)}")
    if unknown:
        check.file_errors.append(f"Line 1: unknown column {', '.join(unknown)}. The columns are: {', '.join(COLUMNS)}")
    if check.file_errors:
        return check
    reader.fieldnames = headers

    organisations = {o.code.upper(): o for o in db.session.scalars(select(Organisation))}
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(check.rows) >= MAX_ROWS:
            check.file_errors.append(f"The file has more than {MAX_ROWS} people. Split it into smaller files")
            break
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        if not any(values.values()):
            continue
        row = ImportRow(line=line, email=values.get("email", ""), name=values.get("name", ""))
        _check_row(actor, row, values, organisations, seen)
        check.rows.append(row)
    if not check.rows and not check.file_errors:
        check.file_errors.append("The file has no people in it, only the line of column names")
    return check


def _check_row(actor: Person, row: ImportRow, values: dict, organisations: dict, seen: dict) -> None:
    try:
        row.email = accounts.normalise_email(row.email)
    except ServiceError as error:
        row.errors.append(error.message)
    else:
        if row.email in seen:
            row.errors.append(f"{row.email} is also on line {seen[row.email]}")
        else:
            seen[row.email] = row.line
        if accounts.find_person_by_email(row.email):
            row.errors.append(f"{row.email} already has an account")
    row.name = unicodedata.normalize("NFC", row.name or "").strip()
    name_problem = accounts.name_problem(row.name)
    if name_problem:
        row.errors.append(name_problem)

    code = values.get("organisation", "").upper()
    row.organisation = organisations.get(code)
    if not code:
        row.errors.append("Enter the code of the person's organisation")
    elif row.organisation is None:
        row.errors.append(f"Unknown organisation code {code}")
    elif not policy.can_manage_in_organisation(actor, row.organisation):
        row.errors.append(f"{row.organisation.name} is not one of your organisations")

    for name in _split(values.get("roles")):
        try:
            row.roles.append(Role(name.lower()))
        except ValueError:
            row.errors.append(f"Unknown role {name}; use {', '.join(r.value for r in Role)}")
    if not row.roles and not _split(values.get("roles")):
        row.errors.append("Enter at least one role")
    for scope_code in _split(values.get("scope")):
        scoped = organisations.get(scope_code.upper())
        if scoped is None:
            row.errors.append(f"Unknown organisation code {scope_code.upper()} in scope")
        else:
            row.scope.append(scoped)

    team_name = values.get("team", "")
    if team_name and row.organisation is not None:
        row.team = db.session.scalar(
            select(Team).where(Team.organisation_id == row.organisation.id, func.lower(Team.name) == team_name.lower())
        )
        if row.team is None:
            row.errors.append(f"{row.organisation.name} has no team called {team_name}")

    if row.organisation is not None and row.roles and not row.errors:
        try:
            accounts.check_roles(actor, row.organisation, row.roles, row.scope)
        except ServiceError as error:
            row.errors.append(error.message)


def import_people(actor: Person, text: str) -> list[Person]:
    """Create and invite everyone in the file, or nobody: the file is checked again first."""
    check = check_import(actor, text)
    if not check.ok:
        raise ServiceError("The file has problems; nobody was added", field="file")
    people = []
    with db.session.begin_nested():
        for row in check.rows:
            people.append(accounts.create_person(
                actor, email=row.email, name=row.name, organisation=row.organisation, roles=row.roles,
                scope=row.scope, team=row.team,
            ))
    return people
