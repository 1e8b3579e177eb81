"""Digital apprenticeships: one blueprint, with a routes module per part of the record
(record, placements, off-the-job hours, progress reviews and KSB coverage, the supervisor's queue).
Every view loads the apprenticeship through ``apprenticeship_or_404``, which checks who may see it."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import policy
from app.extensions import db
from app.models import Apprenticeship, Placement, StandardVersion
from app.services import apprenticeships as apprenticeship_records

bp = Blueprint("apprenticeships", __name__)


def apprenticeship_or_404(apprenticeship_id: int, *, edit: bool = False) -> Apprenticeship:
    """The apprenticeship if the signed-in person may see it (or edit it, with ``edit``); otherwise 404,
    so nobody learns which records exist."""
    apprenticeship = db.session.scalar(
        select(Apprenticeship)
        .where(Apprenticeship.id == apprenticeship_id)
        .options(
            selectinload(Apprenticeship.placements).selectinload(Placement.host_organisation),
            selectinload(Apprenticeship.breaks),
            selectinload(Apprenticeship.standard_version).selectinload(StandardVersion.standard),
        )
    )
    if apprenticeship is None or not policy.can_view_apprenticeship(current_user, apprenticeship):
        abort(404)
    if edit and not policy.can_edit_apprenticeship(current_user, apprenticeship):
        abort(403)
    return apprenticeship


def record_or_404(apprenticeship_id: int):
    """The apprenticeship as its busiest pages read it (``apprenticeships.record``), under the same rule as
    :func:`apprenticeship_or_404`: 404 for anyone who may not see it."""
    found = apprenticeship_records.record(apprenticeship_id)
    if found is None or not policy.can_view_apprenticeship(current_user, found):
        abort(404)
    return found


def record_tabs(apprenticeship: Apprenticeship, current: str) -> list[dict]:
    """The sub-navigation shared by every page of an apprenticeship record."""
    from flask import url_for

    tabs = [
        ("overview", "Overview", url_for("apprenticeships.show", apprenticeship_id=apprenticeship.id)),
        ("placements", "Placements", url_for("apprenticeships.placements", apprenticeship_id=apprenticeship.id)),
        ("off_the_job", "Off-the-job hours",
         url_for("apprenticeships.off_the_job", apprenticeship_id=apprenticeship.id)),
        ("reviews", "Progress reviews", url_for("apprenticeships.reviews", apprenticeship_id=apprenticeship.id)),
        ("ksbs", "KSBs and gateway", url_for("apprenticeships.ksbs", apprenticeship_id=apprenticeship.id)),
    ]
    return [{"key": key, "text": text, "href": href, "current": key == current} for key, text, href in tabs]


# Routes register themselves on ``bp`` when imported.
from app.apprenticeships import off_the_job, placements, record, reviews  # noqa: E402,F401
