"""The supervisor's page: apprentices placed with me now and before, and the off-the-job hours waiting
for my approval, approved many at once. Coordinators see the hours of the records they keep.

The rows of the approval queue are written here in Python rather than by a template loop: 25 entries of eight
cells with their links and hidden texts are the page's hot path, and a template costs several times more for the
same markup. Every text from the data goes through ``html_text``."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2.filters import do_truncate
from markupsafe import Markup

from app import policy
from app.apprenticeships import bp
from app.apprenticeships.off_the_job import render
from app.apprenticeships.off_the_job_forms import BulkApproveForm
from app.cohort_charts import html_text
from app.extensions import db
from app.forms import add_service_error
from app.models import Person
from app.services import ServiceError, apprenticeships, clock
from app.services import off_the_job as otj

# A programme-wide coordinator could have hundreds of reviews waiting: the oldest come first.
REVIEWS_SHOWN = 50


def can_supervise_or_coordinate(person: Person) -> bool:
    return policy.is_supervisor(person) or policy.can_manage_apprenticeships(person)


supervisors = policy.requires(can_supervise_or_coordinate)


def _queue_rows(entries, selected) -> Markup:
    """The approval queue's rows: each entry's box to select it (ticked if ``selected`` holds it), then its
    apprentice, day, duration, activity, KSBs, evidence and a link to reject it. Links extend the records' address
    (/apprenticeships/<record>/off-the-job/...) rather than building each one from its route."""
    records = url_for("apprenticeships.index")
    environment = current_app.jinja_env
    date = environment.filters["date"]
    out = []
    for n, entry in enumerate(entries):
        input_id = "activity_ids" if n == 0 else f"activity-{entry.id}"
        entries_url = html_text(f"{records}/{entry.apprenticeship_id}/off-the-job")
        day, name = date(entry.occurred_on), html_text(entry.apprentice_name)
        duration = html_text(otj.describe_minutes(entry.minutes))
        logged_by = "" if entry.logged_by_id == entry.apprentice_id else \
            f'<br><span class="govuk-body-s">Logged by {html_text(entry.logged_by_name)}</span>'
        evidence = (f'<a class="govuk-link" href="{entries_url}/{entry.id}/evidence" download>'
                    f"{html_text(entry.evidence_filename)}</a>") if entry.evidence_filename else "None"
        description = html_text(do_truncate(environment, entry.description, 120))
        out.append(
            f'<tr class="govuk-table__row" id="queue-{entry.id}">\n'
            '<td class="govuk-table__cell">\n'
            '<div class="govuk-checkboxes govuk-checkboxes--small" data-module="govuk-checkboxes">\n'
            '<div class="govuk-checkboxes__item">\n'
            f'<input class="govuk-checkboxes__input" id="{input_id}" name="activity_ids" type="checkbox" '
            f'value="{entry.id}"{" checked" if entry.id in selected else ""}>\n'
            f'<label class="govuk-label govuk-checkboxes__label" for="{input_id}"><span class="govuk-visually-hidden">'
            f"Select {duration} logged by {name} on {day}</span></label>\n"
            "</div>\n</div>\n</td>\n"
            f'<td class="govuk-table__cell"><a class="govuk-link" href="{entries_url}">{name}</a></td>\n'
            f'<td class="govuk-table__cell"><a class="govuk-link" href="{entries_url}/{entry.id}?from=queue">{day}</a>'
            "</td>\n"
            f'<td class="govuk-table__cell">{duration}</td>\n'
            f'<td class="govuk-table__cell">{html_text(entry.activity_type.label)}<br><span class="govuk-body-s">'
            f"{description}</span>{logged_by}</td>\n"
            f'<td class="govuk-table__cell">{html_text(entry.ksb_codes)}</td>\n'
            f'<td class="govuk-table__cell">{evidence}</td>\n'
            f'<td class="govuk-table__cell"><a class="govuk-link" href="{entries_url}/{entry.id}?from=queue'
            f'#approve-or-reject">Reject<span class="govuk-visually-hidden"> the hours {name} logged on {day}</span>'
            "</a></td>\n</tr>\n")
    return Markup("".join(out))  # noqa: S704 - every text from the data is escaped by html_text; the rest is ours


def _page(form: BulkApproveForm | None = None, status: int = 200):
    apprenticeship_id = request.args.get("apprenticeship", type=int)
    queue = otj.approval_queue(current_user, page=request.args.get("page", 1, type=int),
                               apprenticeship_id=apprenticeship_id)
    placements = otj.supervised_placements(current_user, page=request.args.get("placed_page", 1, type=int))
    bulk_form = form or BulkApproveForm(formdata=None)
    return render(
        "apprenticeships/supervising.html", title="Apprentices and hours to approve", queue=queue,
        queue_rows=_queue_rows(queue.items, bulk_form.activity_ids.data or []),
        placements=placements, today=clock.today(), form=form if form is not None and form.errors else None,
        bulk_form=bulk_form, coordinator=policy.can_manage_apprenticeships(current_user),
        queue_args={"apprenticeship": apprenticeship_id} if apprenticeship_id else {},
        reviews_to_sign=apprenticeships.review_links(current_user, limit=REVIEWS_SHOWN),
    ), status


@bp.get("/supervising")
@supervisors
def supervising():
    return _page()


@bp.post("/supervising/approve")
@supervisors
def bulk_approve_otj():
    form = BulkApproveForm()
    if form.validate_on_submit():
        ids = set(form.activity_ids.data)
        activities = otj.activities_by_ids(ids)
        try:
            if len(activities) != len(ids):
                raise ServiceError("One of the selected entries no longer exists", "activity_ids")
            count = otj.approve(current_user, activities)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, ServiceError(f"{error.message}. Nothing was approved", "activity_ids"))
        else:
            db.session.commit()
            total = sum(a.minutes for a in activities)
            flash(f"Approved {count} {'entry' if count == 1 else 'entries'} of off-the-job hours "
                  f"({otj.describe_minutes(total)} in all).", "success")
            return redirect(url_for("apprenticeships.supervising"))
    return _page(form, status=400)
