"""Enrolling many people on a run from a CSV file of email addresses: checked row by row and previewed
before anything is saved, then everyone is enrolled together or nobody is."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from app import policy
from app.extensions import db
from app.models import CourseRun, Enrolment, EnrolmentStatus, Person
from app.services import ServiceError, accounts, clock, enrolment, people_import
from app.services.runs import enrolment_closed_reason, places_left

COLUMNS = ["email"]
MAX_ROWS = 1000


@dataclass
class ImportRow:
    line: int
    email: str
    person: Person | None = None
    errors: list[str] = field(default_factory=list)
    # Set on good rows when the run will be full by the time this row is reached.
    waitlist: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportCheck(people_import.ImportCheck):
    """The same checked-file shape as inviting people, with the places the file would take."""

    rows: list[ImportRow] = field(default_factory=list)

    @property
    def places(self) -> int:
        return sum(1 for r in self.rows if r.ok and not r.waitlist)

    @property
    def waitlisted(self) -> int:
        return sum(1 for r in self.rows if r.ok and r.waitlist)


def decode(data: bytes) -> str:
    """The file as text; a ``ServiceError`` naming the line when it is not UTF-8."""
    return people_import.decode(data)


def check_import(actor: Person, run: CourseRun, text: str) -> ImportCheck:
    """Check every row of the file against ``run``; changes nothing."""
    check = ImportCheck()
    closed = enrolment_closed_reason(run, clock.today())
    if closed:
        check.file_errors.append(f"{closed}: nobody can be enrolled on it")
        return check
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as error:
        check.file_errors.append(f"Line 1: the file cannot be read as CSV ({error})")
        return check
    headers = [h.strip().lower() for h in header or []]
    if not any(headers):
        check.file_errors.append("The file is empty. The first line must be the column name: email")
        return check
    if "email" not in headers:
        check.file_errors.append("Line 1: the file has no email column. The first line must be the column name: "
                                 "email")
    extra = [h or "(blank)" for h in headers if h != "email"]
    if extra:
        check.file_errors.append(f"Line 1: unexpected column {', '.join(extra)}. The file must have one column: "
                                 "email")
    if headers.count("email") > 1:
        check.file_errors.append("Line 1: the email column appears more than once")
    if check.file_errors:
        return check

    seen: dict[str, int] = {}
    free = places_left(run)
    try:
        for record in reader:
            line = reader.line_num
            if not any(value.strip() for value in record):
                continue
            if len(check.rows) >= MAX_ROWS:
                check.file_errors.append(f"The file has more than {MAX_ROWS} people. Split it into smaller files")
                break
            row = ImportRow(line=line, email=record[0].strip())
            if any(value.strip() for value in record[1:]):
                row.errors.append("This line has more than one value; it must hold only an email address")
            else:
                _check_row(actor, run, row, seen)
            if row.ok:
                if free is not None and free <= 0:
                    row.waitlist = True
                elif free is not None:
                    free -= 1
            check.rows.append(row)
    except csv.Error as error:
        check.file_errors.append(f"Line {reader.line_num}: the file cannot be read as CSV ({error})")
    if not check.rows and not check.file_errors:
        check.file_errors.append("The file has no email addresses in it, only the line with the column name")
    return check


def _check_row(actor: Person, run: CourseRun, row: ImportRow, seen: dict[str, int]) -> None:
    try:
        row.email = accounts.normalise_email(row.email)
    except ServiceError as error:
        row.errors.append(error.message)
        return
    if row.email in seen:
        row.errors.append(f"{row.email} is also on line {seen[row.email]}")
        return
    seen[row.email] = row.line
    row.person = accounts.find_person_by_email(row.email)
    if row.person is None or not policy.can_manage_in_organisation(actor, row.person.organisation_id):
        row.errors.append(enrolment.not_found_message(row.email))
        row.person = None
        return
    problem = enrolment.enrolment_problem(actor, row.person, run)
    if problem:
        row.errors.append(problem)


def import_enrolments(actor: Person, run: CourseRun, text: str) -> list[Enrolment]:
    """Enrol everyone in the file, or nobody: the file is checked again first."""
    check = check_import(actor, run, text)
    if not check.ok:
        raise ServiceError("The file has problems; nobody was enrolled", field="file")
    enrolments = []
    with db.session.begin_nested():
        for row in check.rows:
            enrolments.append(enrolment.enrol(actor, row.person, run))
    return enrolments


def outcome(enrolments: list[Enrolment]) -> str:
    places = sum(1 for e in enrolments if e.status is EnrolmentStatus.ENROLLED)
    waiting = len(enrolments) - places
    message = f"{places} {'person has' if places == 1 else 'people have'} been enrolled"
    if waiting:
        message += f" and {waiting} {'has' if waiting == 1 else 'have'} been put on the waitlist"
    return message + "."

