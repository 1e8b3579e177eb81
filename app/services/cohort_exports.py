"""Exports of a cohort review: exactly the rows of the filtered, sorted view (every page), cell for cell as on
the screen (``ReviewRow.value``), as CSV or as an XLSX workbook, each opening with the same preamble: the cohort,
when the flags were found ("as at"), when the export was made, the filters and the sort."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from app.services import clock
from app.services.cohort_review import Column, Review, ReviewRow


@dataclass
class Export:
    title: str
    as_at: datetime | None
    exported_at: datetime
    filters: str
    sort: str
    columns: list[Column]
    rows: list[ReviewRow]
    # What the "as at" time covers: apprenticeships' off-the-job progress comes from the refresh too.
    as_at_label: str = "Flags as at"

    def preamble(self) -> list[list]:
        """The lines above the table: what the export is, when the flags were found, the filters."""
        return [["Pathways cohort review", self.title],
                [self.as_at_label, self.as_at.astimezone(clock.LONDON).replace(tzinfo=None) if self.as_at else
                 "Not refreshed yet"],
                ["Exported at", self.exported_at.astimezone(clock.LONDON).replace(tzinfo=None)],
                ["Filters", self.filters],
                ["Sort", self.sort],
                []]


def _csv_value(value):
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet would run it as a formula
    return value


def to_csv(export: Export) -> str:
    """The export as CSV: six lines of preamble (the title, the flags' "as at" time and the export time in
    London time, ISO 8601, the filters and the sort, then an empty line), the header row, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in export.preamble():
        writer.writerow([_csv_value(v) for v in line])
    writer.writerow([c.heading for c in export.columns])
    for row in export.rows:
        writer.writerow([_csv_value(v) for v in row.cells(export.columns)])
    return out.getvalue()


XLSX_HEADER_ROW = 7


def to_xlsx(export: Export) -> bytes:
    """The export as an XLSX workbook: the same preamble in rows 1 to 5 (times as date-time cells), the header
    in row 7, then one row per person: numbers as numbers, dates as date cells. The workbook's properties
    carry the title, the filters (subject) and the "as at" time (description)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Review"
    book.properties.title = export.title
    book.properties.subject = export.filters
    book.properties.creator = "Pathways"
    book.properties.description = (
        f"{export.as_at_label} {export.as_at.astimezone(clock.LONDON).isoformat(timespec='seconds')}"
        if export.as_at else "Flags not refreshed yet")
    for line in export.preamble():
        sheet.append([_xlsx_value(v) for v in line])
    for row_number in (2, 3):
        sheet.cell(row_number, 2).number_format = "d mmmm yyyy hh:mm"
    for row_number in range(1, 6):
        sheet.cell(row_number, 1).font = Font(bold=True)
    sheet.append([c.heading for c in export.columns])
    for cell in sheet[XLSX_HEADER_ROW]:
        cell.font = Font(bold=True)
    date_columns = [n for n, c in enumerate(export.columns, start=1) if c.type == "date"]
    flags_column = next((n for n, c in enumerate(export.columns, start=1) if c.type == "flags"), None)
    for row in export.rows:
        sheet.append([_xlsx_value(v) for v in row.cells(export.columns)])
        current = sheet.max_row
        for n in date_columns:
            sheet.cell(current, n).number_format = "yyyy-mm-dd"
        if flags_column:
            sheet.cell(current, flags_column).alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = sheet.cell(XLSX_HEADER_ROW + 1, 1)
    for n, column in enumerate(export.columns, start=1):
        width = 60 if column.type == "flags" else 14 if column.type in ("number", "date", "rating") else 28
        sheet.column_dimensions[sheet.cell(XLSX_HEADER_ROW, n).column_letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_value(value):
    if isinstance(value, str) and value[:1] == "=":
        return "'" + value
    return value


def filename(review: Review, today: date, extension: str) -> str:
    stem = "".join(c if c.isalnum() else "-" for c in f"{review.name} review {today.isoformat()}".lower())
    return "-".join(part for part in stem.split("-") if part)[:100] + f".{extension}"
