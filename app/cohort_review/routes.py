"""Pages for reviewing a cohort: ``/intakes/<id>/review``, ``/runs/<id>/review`` and
``/cohort-review/apprentices``, each with its CSV and XLSX export and its "Refresh the flags now" button, and an
intake's placements timeline (``/intakes/<id>/review/placements``) for the apprentices of one page of its review.
The rows, filters and pictures come from ``services/cohort_review.py`` and ``app/cohort_charts.py``.

The review table, its header and its page links are written here in Python rather than by template loops: 50
rows of 10 cells with their links are the page's hot path, and a template costs several times more for the same
markup. Every text from the data goes through ``html_text``."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from jinja2.utils import url_quote
from markupsafe import Markup

from app import cohort_charts, policy
from app.cohort_charts import html_text
from app.extensions import db
from app.models.types import utcnow
from app.services import clock, cohort_exports
from app.services import cohort_review as reviewing

bp = Blueprint("cohort_review", __name__)
review_cohorts = policy.requires(policy.can_review_cohorts)
MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
# An export or the timeline may be kept by the browser and asked for again with its ETag (the answer is then 304
# Not Modified while nothing in it has changed), but always revalidated, and never kept by a shared cache.
REVALIDATED = "private, no-cache"


def _intake_review(intake_id: int) -> reviewing.Review:
    intake = reviewing.visible_intake(current_user, intake_id)
    if intake is None:
        abort(404)
    return reviewing.Review.of_intake(intake)


def _run_review(run_id: int) -> reviewing.Review:
    run = reviewing.visible_run(current_user, run_id)
    if run is None:
        abort(404)
    return reviewing.Review.of_run(run)


def _urls(review: reviewing.Review) -> dict:
    """The review's own endpoints and their arguments."""
    if review.kind == "intake":
        return {"page": "cohort_review.intake", "export": "cohort_review.intake_export",
                "refresh": "cohort_review.intake_refresh", "placements": "cohort_review.intake_placements",
                "args": {"intake_id": review.intake.id}}
    if review.kind == "run":
        return {"page": "cohort_review.run", "export": "cohort_review.run_export",
                "refresh": "cohort_review.run_refresh", "args": {"run_id": review.run.id}}
    return {"page": "cohort_review.apprentices", "export": "cohort_review.apprentices_export",
            "refresh": "cohort_review.apprentices_refresh", "args": {}}


def _href(path: str, args: dict) -> str:
    """``path`` with ``args`` as its query, as markup."""
    query = urlencode(args, safe="!$'()*,/:;@")
    return html_text(f"{path}?{query}" if query else path)


def _not_modified(tag: str) -> Response:
    response = Response(status=304)
    response.set_etag(tag)
    response.headers["Cache-Control"] = REVALIDATED
    return response


def _fill_missing_rows(review: reviewing.Review) -> None:
    if reviewing.fill_missing_rows(review):
        db.session.commit()


# The review table ------------------------------------------------------------------------------------------------


TAG_COLOURS = {"red": "red", "amber": "orange", "green": "green"}


def _head_markup(columns: list, filters: reviewing.ReviewFilters, path: str) -> Markup:
    """The header row: each sortable heading a link that sorts by it (the other way when it is the sort), the
    sorted one with ``aria-sort``."""
    out = []
    for column in columns:
        numeric = " govuk-table__header--numeric" if column.numeric else ""
        sorted_here = filters.sort == column.key
        if sorted_here:
            aria = f' aria-sort="{"descending" if filters.descending else "ascending"}"'
        else:
            aria = ' aria-sort="none"' if column.sortable else ""
        heading = html_text(column.heading)
        if column.sortable:
            heading = (f'<a class="govuk-link govuk-link--no-visited-state" '
                       f'href="{_href(path, filters.sorted_by(column.key))}">{heading}</a>')
            if sorted_here:
                heading += f' <span aria-hidden="true">{"▼" if filters.descending else "▲"}</span>'
        out.append(f'<th scope="col" class="govuk-table__header{numeric}" data-column="{column.key}"{aria}>'
                   f"{heading}</th>\n")
    return Markup("".join(out))  # noqa: S704 - headings and links are escaped by html_text


def _cell_writers(review: reviewing.Review, columns: list) -> list:
    """For each column, a function writing its cell of a row: chosen once a page rather than once a cell."""
    if review.of_apprenticeships:
        record = url_for("apprenticeships.show", apprenticeship_id=0)[:-1]

        def name(row):
            return (f'<td class="govuk-table__cell" data-column="name"><a class="govuk-link" '
                    f'href="{record}{row.id}">{html_text(row.name)}</a></td>\n')
    else:
        roster = url_for("runs.show", run_id=review.run.id)

        def name(row):
            return (f'<td class="govuk-table__cell" data-column="name"><a class="govuk-link" '
                    f'href="{roster}?q={html_text(url_quote(row.email))}#enrolment-{row.id}">{html_text(row.name)}'
                    "</a></td>\n")

    days: dict = {}

    def writer(column):
        kind, key = column.type, column.key
        if kind == "name":
            return name
        if kind == "number":
            start = f'<td class="govuk-table__cell govuk-table__cell--numeric" data-column="{key}">'

            def number(row):
                value = row.value(column)
                return f'{start}{"" if value is None else value}</td>\n'
            return number
        if kind == "date":
            def day(row):
                value = row.value(column)
                if not value:
                    return f'<td class="govuk-table__cell" data-column="{key}"></td>\n'
                shown = days.get(value) or days.setdefault(value, f"{value:%-d %B %Y}")
                return (f'<td class="govuk-table__cell" data-column="{key}"><time datetime="{value.isoformat()}">'
                        f"{shown}</time></td>\n")
            return day
        if kind == "rating":
            def rating(row):
                if row.rating is None:
                    return f'<td class="govuk-table__cell" data-column="rating">{html_text(row.value(column))}</td>\n'
                return (f'<td class="govuk-table__cell" data-column="rating"><strong class="govuk-tag '
                        f'govuk-tag--{TAG_COLOURS[row.rating.value]}">{row.rating.label}</strong></td>\n')
            return rating
        if kind == "flags":
            def flags(row):
                # Each flag marked by its rating's colour (and named in words), then its reason.
                listed = "".join(f'<li class="app-flag app-flag--{flag.rating.value}" data-flag="{flag.code}">'
                                 f'<strong class="app-flag__label">{html_text(flag.label)} ({flag.rating.value})'
                                 f"</strong>: {html_text(flag.reason)}</li>" for flag in row.flags)
                if listed:
                    listed = f'<ul class="govuk-list app-flag-list govuk-!-margin-bottom-0">{listed}</ul>'
                return f'<td class="govuk-table__cell app-review-table__flags" data-column="flags">{listed}</td>\n'
            return flags
        start = f'<td class="govuk-table__cell" data-column="{key}">'

        def text(row):
            return f"{start}{html_text(row.value(column))}</td>\n"
        return text

    return [writer(column) for column in columns]


def _body_markup(review: reviewing.Review, columns: list, rows: list) -> Markup:
    """The table's body rows, each cell the value ``ReviewRow.value`` gives (so the screen and the exports match
    cell for cell)."""
    writers = _cell_writers(review, columns)
    return Markup("".join(  # noqa: S704 - every text from the data is escaped by html_text; the rest is ours
        f'<tr class="govuk-table__row" id="row-{row.id}">\n' + "".join([write(row) for write in writers]) + "</tr>\n"
        for row in rows))


_PREVIOUS_ICON = (
    '<svg class="govuk-pagination__icon govuk-pagination__icon--prev" xmlns="http://www.w3.org/2000/svg" '
    'height="13" width="15" aria-hidden="true" focusable="false" viewBox="0 0 15 13"><path d="m6.5938-0.0078125'
    '-6.7266 6.7266 6.7441 6.4062 1.377-1.449-4.1856-3.9768h12.896v-2h-12.984l4.2931-4.293-1.414-1.414z"></path>'
    '</svg>')
_NEXT_ICON = (
    '<svg class="govuk-pagination__icon govuk-pagination__icon--next" xmlns="http://www.w3.org/2000/svg" '
    'height="13" width="15" aria-hidden="true" focusable="false" viewBox="0 0 15 13"><path d="m8.107-0.0078125'
    '-1.4136 1.414 4.2926 4.293h-12.986v2h12.896l-4.1855 3.9766 1.377 1.4492 6.7441-6.4062-6.7246-6.7266z"></path>'
    '</svg>')


def _pagination_markup(page: reviewing.Page, path: str, args: dict) -> Markup:
    """GOV.UK pagination: "Previous" and "Next" carry the page's cursor (``Page.previous_args`` and
    ``next_args``), so they neither repeat nor skip a row however the rows tie; the numbered pages count from
    the start. Then "Showing 1 to 50 of 2,500"."""
    out = []
    if page.previous_args is not None or page.next_args is not None:
        out.append('<nav class="govuk-pagination" aria-label="Pagination">\n')
        if page.previous_args is not None:
            out.append(f'<div class="govuk-pagination__prev"><a class="govuk-link govuk-pagination__link" '
                       f'href="{_href(path, page.previous_args)}" rel="prev">{_PREVIOUS_ICON}'
                       '<span class="govuk-pagination__link-title">Previous<span class="govuk-visually-hidden"> page'
                       '</span></span></a></div>\n')
        out.append('<ul class="govuk-pagination__list">\n')
        for number in page.iter_pages(left_edge=1, right_edge=1, left_current=2, right_current=2):
            if number is None:
                out.append('<li class="govuk-pagination__item govuk-pagination__item--ellipsis">&ctdot;</li>\n')
            elif number == page.page:
                out.append(f'<li class="govuk-pagination__item govuk-pagination__item--current"><a class="govuk-link '
                           f'govuk-pagination__link" href="{_href(path, {"page": number, **args})}" '
                           f'aria-label="Page {number}" aria-current="page">{number}</a></li>\n')
            else:
                out.append(f'<li class="govuk-pagination__item"><a class="govuk-link govuk-pagination__link" '
                           f'href="{_href(path, {"page": number, **args})}" aria-label="Page {number}">{number}</a>'
                           '</li>\n')
        out.append("</ul>\n")
        if page.next_args is not None:
            out.append(f'<div class="govuk-pagination__next"><a class="govuk-link govuk-pagination__link" '
                       f'href="{_href(path, page.next_args)}" rel="next"><span class="govuk-pagination__link-title">'
                       f'Next<span class="govuk-visually-hidden"> page</span></span>{_NEXT_ICON}</a></div>\n')
        out.append("</nav>\n")
    out.append(f'<p class="govuk-body-s">Showing {page.first if page.total else 0} to {page.last} of {page.total}'
               '</p>\n')
    return Markup("".join(out))  # noqa: S704 - the links are escaped by html_text; the rest are numbers


# Pages -------------------------------------------------------------------------------------------------------------


def _pictures(review: reviewing.Review, result: reviewing.Result) -> dict:
    if review.kind == "intake":
        return {"histogram": cohort_charts.progress_histogram(result.spread or reviewing.progress_bands([]),
                                                              scope="all apprentices matching the filters")}
    if review.kind == "run":
        days, taking = reviewing.completions(current_user, review)
        run = review.run
        return {"completions": cohort_charts.completions_chart(days, starts_on=run.starts_on, ends_on=run.ends_on,
                                                               today=clock.today(), taking=taking)}
    return {}


def _page(review: reviewing.Review, title: str):
    filters = reviewing.ReviewFilters.from_args(request.args, review)
    result = reviewing.review_rows(current_user, review, filters, with_progress=review.kind == "intake")
    if result.healed:
        db.session.commit()
    choices = reviewing.choices(current_user, review)
    columns = reviewing.columns_for(review)
    urls = _urls(review)
    path = url_for(urls["page"], **urls["args"])
    return render_template(
        "cohort_review/review.html", title=title, review=review, filters=filters, result=result,
        page=result.page, rows=result.rows, columns=columns, choices=choices,
        head=_head_markup(columns, filters, path), body=_body_markup(review, columns, result.rows),
        pagination=_pagination_markup(result.page, path, filters.as_args()),
        described=reviewing.describe(filters, choices), sort_described=reviewing.describe_sort(filters, review),
        as_at=result.as_at, scoped=policy.managed_organisation_ids(current_user) is not None,
        urls=urls, pictures=_pictures(review, result),
    )


def _export(review: reviewing.Review, fmt: str):
    _fill_missing_rows(review)
    filters = reviewing.ReviewFilters.from_args(request.args, review)
    tag = reviewing.export_tag(current_user, review, filters, fmt)
    if tag is not None and request.if_none_match.contains(tag):
        return _not_modified(tag)
    result = reviewing.review_rows(current_user, review, filters, everything=True)
    choices = reviewing.choices(current_user, review)
    export = cohort_exports.Export(
        title=review.name, as_at=result.as_at, exported_at=utcnow(),
        filters=reviewing.describe(filters, choices), sort=reviewing.describe_sort(filters, review),
        columns=reviewing.columns_for(review), rows=result.rows,
        as_at_label="Flags and progress as at" if review.of_apprenticeships else "Flags as at")
    content = cohort_exports.to_csv(export) if fmt == "csv" else cohort_exports.to_xlsx(export)
    name = cohort_exports.filename(review, clock.today(), fmt)
    response = Response(content, mimetype=MIMETYPES[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    if tag is not None:
        response.set_etag(tag)
        response.headers["Cache-Control"] = REVALIDATED
    return response


def _spans(placements: str) -> list[cohort_charts.PlacementSpan]:
    """A review row's placements (JSON: start, end, host id, host name) as the timeline draws them."""
    return [cohort_charts.PlacementSpan(date.fromisoformat(starts_on), date.fromisoformat(ends_on), host_id, host)
            for starts_on, ends_on, host_id, host in json.loads(placements)]


def _placements(review: reviewing.Review):
    """The placements timeline of the apprentices on one page of the review (the same filters, sort and page),
    a page of its own so that the review itself stays light. Revalidated with an ETag: the rows when last
    written, the filters and page, the viewer, their session (the page's forms carry its token) and the day."""
    _fill_missing_rows(review)
    filters = reviewing.ReviewFilters.from_args(request.args, review)
    generate_csrf()  # the session's form token, made now if it is not yet: the page shows it
    tag = reviewing.export_tag(current_user, review, filters, "placements", viewer=(
        current_user.id, session.get("csrf_token", ""), filters.page, filters.after, filters.before))
    if request.if_none_match.contains(tag):
        return _not_modified(tag)
    result = reviewing.review_rows(current_user, review, filters, placements=True)
    if result.healed:
        db.session.commit()
    lanes = [cohort_charts.ApprenticeLane(row.name, row.values["starts_on"], row.values["ends_on"],
                                          _spans(row.placements)) for row in result.rows]
    urls = _urls(review)
    response = make_response(render_template(
        "cohort_review/placements.html", title=f"Placements of the intake {review.intake.name}", review=review,
        page=result.page, back=url_for(urls["page"], **urls["args"], **filters.as_args(page=True)),
        timeline=cohort_charts.placements_timeline(lanes, clock.today(), scope="the apprentices on this page"),
        described=reviewing.describe(filters, reviewing.choices(current_user, review)),
        sort_described=reviewing.describe_sort(filters, review)))
    response.set_etag(tag)
    response.headers["Cache-Control"] = REVALIDATED
    return response


def _refresh(review: reviewing.Review):
    filters = reviewing.ReviewFilters.from_args(request.form, review)
    counts = reviewing.refresh(current_user, review)
    db.session.commit()
    red, amber = counts.get("red", 0), counts.get("amber", 0)
    flash(f"The flags have been worked out again: {red} red and {amber} amber {'flag' if red + amber == 1 else 'flags'}"
          f" found.", "success")
    urls = _urls(review)
    return redirect(url_for(urls["page"], **urls["args"], **filters.as_args(page=True)))


# Intakes ---------------------------------------------------------------------------------------------------------


@bp.get("/intakes/<int:intake_id>/review")
@review_cohorts
def intake(intake_id: int):
    review = _intake_review(intake_id)
    return _page(review, f"Review of the intake {review.intake.name}")


@bp.get("/intakes/<int:intake_id>/review/placements")
@review_cohorts
def intake_placements(intake_id: int):
    return _placements(_intake_review(intake_id))


@bp.get("/intakes/<int:intake_id>/review.csv", defaults={"fmt": "csv"})
@bp.get("/intakes/<int:intake_id>/review.xlsx", defaults={"fmt": "xlsx"})
@review_cohorts
def intake_export(intake_id: int, fmt: str):
    return _export(_intake_review(intake_id), fmt)


@bp.post("/intakes/<int:intake_id>/review/refresh")
@review_cohorts
def intake_refresh(intake_id: int):
    return _refresh(_intake_review(intake_id))


# Every apprentice in the viewer's organisations ---------------------------------------------------------------------


@bp.get("/cohort-review/apprentices")
@review_cohorts
def apprentices():
    scoped = policy.managed_organisation_ids(current_user) is not None
    return _page(reviewing.Review.of_apprentices(),
                 "All apprentices in your organisations" if scoped else "All apprentices")


@bp.get("/cohort-review/apprentices.csv", defaults={"fmt": "csv"})
@bp.get("/cohort-review/apprentices.xlsx", defaults={"fmt": "xlsx"})
@review_cohorts
def apprentices_export(fmt: str):
    return _export(reviewing.Review.of_apprentices(), fmt)


@bp.post("/cohort-review/apprentices/refresh")
@review_cohorts
def apprentices_refresh():
    return _refresh(reviewing.Review.of_apprentices())


# Course runs -------------------------------------------------------------------------------------------------------


@bp.get("/runs/<int:run_id>/review")
@review_cohorts
def run(run_id: int):
    review = _run_review(run_id)
    return _page(review, f"Review of {review.run.course.title}: {review.run.name}")


@bp.get("/runs/<int:run_id>/review.csv", defaults={"fmt": "csv"})
@bp.get("/runs/<int:run_id>/review.xlsx", defaults={"fmt": "xlsx"})
@review_cohorts
def run_export(run_id: int, fmt: str):
    return _export(_run_review(run_id), fmt)


@bp.post("/runs/<int:run_id>/review/refresh")
@review_cohorts
def run_refresh(run_id: int):
    return _refresh(_run_review(run_id))
