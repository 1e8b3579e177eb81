"""A leader's CPD record: the courses they completed, with the day each was completed and the CPD hours it
credited, year by year with totals, as CSV or as a PDF to hand to a manager or a professional body.

A CPD year is the calendar year, 1 January to 31 December, London time: a course completed at 23:30 on
31 December counts for that year, one completed at 00:10 on 1 January for the next. Only ever the record of the
person asking: nothing here takes another person.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

from flask import render_template
from sqlalchemy import bindparam, select

from app import pdf
from app.extensions import db
from app.models import Course, CourseRun, Enrolment, EnrolmentStatus, Person
from app.services import clock

YEAR_NAME = "calendar year"
STYLESHEET = Path(pdf.TEMPLATES_DIR) / "learning" / "cpd_record.css"
# The years a record may be asked for: any other "year" is not one Pathways could hold.
FIRST_YEAR, LAST_YEAR = 2000, 2999


def completed_on(completed_at: datetime) -> date:
    """The London day a course was completed on (completion times are kept in UTC)."""
    return completed_at.astimezone(clock.LONDON).date()


def cpd_year_of(day: date) -> int:
    return day.year


def year_from(text: str) -> int | None:
    """The year ``text`` names (four digits, 2000 to 2999), or None."""
    if len(text) == 4 and text.isascii() and text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR:
        return int(text)
    return None


def year_span(year: int) -> str:
    return f"1 January to 31 December {year}"


def hours_text(hours: Decimal) -> str:
    """CPD hours as people write them: 3.5, 4 (not 4.0)."""
    text = f"{hours.quantize(Decimal('0.1'))}"
    return text.removesuffix(".0")


@dataclass
class CpdEntry:
    course_title: str
    run_name: str
    completed_on: date
    cpd_hours: Decimal


@dataclass
class CpdYear:
    year: int
    entries: list[CpdEntry] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((e.cpd_hours for e in self.entries), Decimal(0))


@dataclass
class CpdRecord:
    """The record of ``person_name`` for one ``year``, or for every year when ``year`` is None."""

    person_name: str
    organisation_name: str
    year: int | None
    made_on: date
    years: list[CpdYear]

    @property
    def total(self) -> Decimal:
        return sum((y.total for y in self.years), Decimal(0))

    @property
    def period(self) -> str:
        if self.year is None:
            return "All years"
        return f"{self.year} ({YEAR_NAME}, {year_span(self.year)})"

    @property
    def title(self) -> str:
        return f"CPD record of {self.person_name}: {'all years' if self.year is None else self.year}"

    def filename(self, extension: str) -> str:
        period = "all-years" if self.year is None else str(self.year)
        return f"pathways-cpd-record-{period}.{extension}"


@functools.cache
def _completions():
    """The completed enrolments of ``:person_id`` completed from ``:since`` until before ``:until`` (UTC), oldest
    first, with their course and run. Built once."""
    return (
        select(Enrolment.completed_at, Enrolment.cpd_hours_credited, CourseRun.name, Course.title)
        .join(CourseRun, Enrolment.run_id == CourseRun.id).join(Course, CourseRun.course_id == Course.id)
        .where(Enrolment.person_id == bindparam("person_id"), Enrolment.status == EnrolmentStatus.COMPLETED,
               Enrolment.completed_at.is_not(None), Enrolment.completed_at >= bindparam("since"),
               Enrolment.completed_at < bindparam("until"))
        .order_by(Enrolment.completed_at, Enrolment.id)
    )


def _start_of(year: int) -> datetime:
    """Midnight London time at the start of ``year``, in UTC."""
    return datetime.combine(date(year, 1, 1), time(0), tzinfo=clock.LONDON).astimezone(UTC)


def record_of(person: Person, today: date, year: int | None = None) -> CpdRecord:
    """``person``'s CPD record for ``year`` (a calendar year, London time), or for every year."""
    since, until = (_start_of(year), _start_of(year + 1)) if year is not None else (
        _start_of(FIRST_YEAR), _start_of(LAST_YEAR + 1))
    rows = db.session.execute(_completions(), {"person_id": person.id, "since": since, "until": until}).all()
    years: dict[int, CpdYear] = {}
    for completed_at, hours, run_name, title in rows:
        day = completed_on(completed_at)
        years.setdefault(cpd_year_of(day), CpdYear(cpd_year_of(day))).entries.append(
            CpdEntry(title, run_name, day, hours if hours is not None else Decimal(0)))
    if year is not None and year not in years:
        years[year] = CpdYear(year)
    return CpdRecord(person.name, person.organisation.name, year, today, sorted(years.values(), key=lambda y: y.year))


def _safe(value: str) -> str:
    """A text cell a spreadsheet will show as text: one that starts like a formula gets a quote in front."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(record: CpdRecord) -> str:
    """The record as CSV: who and which period it covers and when it was made, an empty line, the header, then
    each course under its year with the year's total after it, and the total of all years at the end."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Pathways CPD record", _safe(record.person_name)])
    writer.writerow(["Organisation", _safe(record.organisation_name)])
    writer.writerow(["Period", record.period])
    writer.writerow(["Made on", record.made_on.isoformat()])
    writer.writerow([])
    writer.writerow(["Year", "Course", "Run", "Completed on", "CPD hours"])
    for year in record.years:
        for entry in year.entries:
            writer.writerow([year.year, _safe(entry.course_title), _safe(entry.run_name),
                             entry.completed_on.isoformat(), hours_text(entry.cpd_hours)])
        writer.writerow([year.year, f"Total for {year.year}", "", "", hours_text(year.total)])
    if record.year is None:
        writer.writerow(["All years", "Total", "", "", hours_text(record.total)])
    return out.getvalue()


@functools.cache
def _stylesheet():
    """The record's own stylesheet (A4 portrait), with the fonts and fetcher of every Pathways PDF. Made once."""
    from weasyprint import CSS

    _certificate_css, fonts, fetcher = pdf.resources()
    return CSS(filename=str(STYLESHEET), font_config=fonts, url_fetcher=fetcher)


def to_pdf(record: CpdRecord) -> bytes:
    """The record as a PDF/A-3b document: the same tables as the CSV, for people to read."""
    from weasyprint import HTML

    _certificate_css, fonts, fetcher = pdf.resources()
    html = render_template("learning/cpd_record.html", record=record, hours=hours_text, title=record.title)
    document = HTML(string=html, base_url=str(STYLESHEET.parent) + "/", url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[_stylesheet()], font_config=fonts, pdf_variant=pdf.PDF_VARIANT)
