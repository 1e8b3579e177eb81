"""The supervisor's page: apprentices placed with me now and before, and the off-the-job hours waiting
for my approval, approved many at once. Coordinators see the hours of the records they keep."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user

from app import policy
from app.apprenticeships import bp
from app.apprenticeships.off_the_job import render
from app.apprenticeships.off_the_job_forms import BulkApproveForm
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


def _page(form: BulkApproveForm | None = None, status: int = 200):
    apprenticeship_id = request.args.get("apprenticeship", type=int)
    queue = otj.approval_queue(current_user, page=request.args.get("page", 1, type=int),
                               apprenticeship_id=apprenticeship_id)
    placements = otj.supervised_placements(current_user, page=request.args.get("placed_page", 1, type=int))
    return render(
        "apprenticeships/supervising.html", title="Apprentices and hours to approve", queue=queue,
        placements=placements, today=clock.today(), form=form if form is not None and form.errors else None,
        bulk_form=form or BulkApproveForm(formdata=None), coordinator=policy.can_manage_apprenticeships(current_user),
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
