"""Pages for reviewing a cohort: ``/intakes/<id>/review``, ``/runs/<id>/review`` and
``/cohort-review/apprentices``, each with its CSV and XLSX export and its "Refresh the flags now" button. The
rows, filters and pictures come from ``services/cohort_review.py`` and ``app/cohort_charts.py``."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2.utils import url_quote
from markupsafe import Markup, escape

from app import cohort_charts, policy
from app.extensions import db
from app.models.types import utcnow
from app.services import clock, cohort_exports
from app.services import cohort_review as reviewing

bp = Blueprint("cohort_review", __name__)
review_cohorts = policy.requires(policy.can_review_cohorts)
MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


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
                "refresh": "cohort_review.intake_refresh", "args": {"intake_id": review.intake.id}}
    if review.kind == "run":
        return {"page": "cohort_review.run", "export": "cohort_review.run_export",
                "refresh": "cohort_review.run_refresh", "args": {"run_id": review.run.id}}
    return {"page": "cohort_review.apprentices", "export": "cohort_review.apprentices_export",
            "refresh": "cohort_review.apprentices_refresh", "args": {}}


def _pictures(review: reviewing.Review, result: reviewing.Result) -> dict:
    today = clock.today()
    if review.kind == "intake":
        placements = reviewing.placements_of([row.id for row in result.rows])
        lanes = [cohort_charts.ApprenticeLane(
            row.name, row.values["starts_on"], row.values["ends_on"],
            [cohort_charts.PlacementSpan(p.starts_on, p.ends_on, p.host_id, p.host) for p in placements[row.id]])
            for row in result.rows]
        return {
            "timeline": cohort_charts.placements_timeline(lanes, today, scope="the apprentices on this page"),
            "histogram": cohort_charts.progress_histogram(result.spread or reviewing.progress_bands([]),
                                                          scope="all apprentices matching the filters"),
        }
    if review.kind == "run":
        days, taking = reviewing.completions(current_user, review)
        run = review.run
        return {"completions": cohort_charts.completions_chart(days, starts_on=run.starts_on, ends_on=run.ends_on,
                                                               today=today, taking=taking)}
    return {}


TAG_COLOURS = {"red": "red", "amber": "orange", "green": "green"}


def _body_markup(review: reviewing.Review, columns: list, rows: list) -> Markup:
    """The table's body rows, each cell the value ``ReviewRow.value`` gives (so the screen and the exports match
    cell for cell). Written here rather than by a template loop: 50 rows of 10 cells are the page's hot path,
    and a template costs several times more for the same markup."""
    if review.of_apprenticeships:
        record = url_for("apprenticeships.show", apprenticeship_id=0)[:-1]
    else:
        roster = url_for("runs.show", run_id=review.run.id)
    days: dict = {}
    out = []
    for row in rows:
        out.append(f'<tr class="govuk-table__row" id="row-{row.id}">\n')
        for column in columns:
            kind, key = column.type, column.key
            if kind == "name":
                href = f"{record}{row.id}" if review.of_apprenticeships else \
                    f"{roster}?q={escape(url_quote(row.email))}#enrolment-{row.id}"
                out.append(f'<td class="govuk-table__cell" data-column="name"><a class="govuk-link" href="{href}">'
                           f"{escape(row.name)}</a></td>\n")
            elif kind == "number":
                value = row.value(column)
                out.append(f'<td class="govuk-table__cell govuk-table__cell--numeric" data-column="{key}">'
                           f'{"" if value is None else escape(value)}</td>\n')
            elif kind == "date":
                value = row.value(column)
                if value:
                    shown = days.get(value) or days.setdefault(value, f"{value:%-d %B %Y}")
                    out.append(f'<td class="govuk-table__cell" data-column="{key}"><time datetime="'
                               f'{value.isoformat()}">{shown}</time></td>\n')
                else:
                    out.append(f'<td class="govuk-table__cell" data-column="{key}"></td>\n')
            elif kind == "rating":
                value = escape(row.value(column))
                if row.rating:
                    value = f'<strong class="govuk-tag govuk-tag--{TAG_COLOURS[row.rating.value]}">{value}</strong>'
                out.append(f'<td class="govuk-table__cell" data-column="rating">{value}</td>\n')
            elif kind == "flags":
                flags = "".join(f'<li data-flag="{flag.code}"><strong>{escape(flag.label)} ({flag.rating.value})'
                                f"</strong>: {escape(flag.reason)}</li>" for flag in row.flags)
                if flags:
                    flags = f'<ul class="govuk-list govuk-!-font-size-16 govuk-!-margin-bottom-0">{flags}</ul>'
                out.append(f'<td class="govuk-table__cell" data-column="flags">{flags}</td>\n')
            else:
                out.append(f'<td class="govuk-table__cell" data-column="{key}">{escape(row.value(column))}</td>\n')
        out.append("</tr>\n")
    return Markup("".join(out))  # noqa: S704 - every text from the data is escaped above; the rest is ours


def _page(review: reviewing.Review, title: str):
    filters = reviewing.ReviewFilters.from_args(request.args, review)
    result = reviewing.review_rows(current_user, review, filters, with_progress=review.kind == "intake")
    choices = reviewing.choices(current_user, review)
    columns = reviewing.columns_for(review)
    return render_template(
        "cohort_review/review.html", title=title, review=review, filters=filters, result=result,
        page=result.page, rows=result.rows, columns=columns, choices=choices,
        body=_body_markup(review, columns, result.rows),
        described=reviewing.describe(filters, choices), sort_described=reviewing.describe_sort(filters, review),
        as_at=reviewing.last_refreshed(), scoped=policy.managed_organisation_ids(current_user) is not None,
        urls=_urls(review), pictures=_pictures(review, result),
    )


def _export(review: reviewing.Review, fmt: str):
    filters = reviewing.ReviewFilters.from_args(request.args, review)
    result = reviewing.review_rows(current_user, review, filters, everything=True)
    choices = reviewing.choices(current_user, review)
    export = cohort_exports.Export(
        title=review.name, as_at=reviewing.last_refreshed(), exported_at=utcnow(),
        filters=reviewing.describe(filters, choices), sort=reviewing.describe_sort(filters, review),
        columns=reviewing.columns_for(review), rows=result.rows,
        as_at_label="Flags and progress as at" if review.of_apprenticeships else "Flags as at")
    content = cohort_exports.to_csv(export) if fmt == "csv" else cohort_exports.to_xlsx(export)
    name = cohort_exports.filename(review, clock.today(), fmt)
    return Response(content, mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


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
