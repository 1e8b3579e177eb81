"""Off-the-job hours on an apprenticeship record: totals against the plan with the cumulative chart, the
entries, logging hours (the apprentice, or a coordinator on their behalf), deciding an entry, and its
evidence file, served only to people who may see the record."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_input_stream

from app import charts, policy
from app.apprenticeships import apprenticeship_or_404, bp, record_or_404, record_tabs
from app.apprenticeships.off_the_job_forms import DecisionForm, LogOtjForm
from app.extensions import db
from app.forms import add_service_error
from app.models import ActivityType, KsbKind, OtjStatus
from app.services import ServiceError, apprenticeship_rules, clock, otj_totals
from app.services import evidence as evidence_files
from app.services import off_the_job as otj

# The form field that shows a problem the service names.
LOG_FIELDS = {"minutes": "hours"}
KSB_GROUPS = ((KsbKind.KNOWLEDGE, "Knowledge"), (KsbKind.SKILL, "Skills"), (KsbKind.BEHAVIOUR, "Behaviours"))


def render(template: str, **context):
    """Render with the wording helpers every off-the-job page uses."""
    return render_template(template, duration=otj.describe_minutes, hours_text=otj.format_hours,
                           describe_size=evidence_files.describe_size, **context)


def _status_filter() -> OtjStatus | None:
    value = request.args.get("status", "")
    return OtjStatus(value) if value in {s.value for s in OtjStatus} else None


def _may_log(apprenticeship) -> bool:
    return policy.can_log_otj_for(current_user, apprenticeship) and otj.closed_reason(apprenticeship) is None


@bp.get("/apprenticeships/<int:apprenticeship_id>/off-the-job")
@policy.signed_in
def off_the_job(apprenticeship_id: int):
    apprenticeship = record_or_404(apprenticeship_id)
    status = _status_filter()
    figures = otj_totals.figures(apprenticeship)
    page = otj.entries_page(apprenticeship, status=status, page=request.args.get("page", 1, type=int),
                            total=figures.entries.get(status, 0) if status else figures.entry_count)
    chart = charts.otj_cumulative_chart(figures.points, planned_hours=apprenticeship.planned_otj_hours)
    return render(
        "apprenticeships/off_the_job.html", title=f"Off-the-job hours: {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, tabs=record_tabs(apprenticeship, "off_the_job"), heading="Off-the-job hours",
        totals=figures.totals, chart=chart, page=page, status=status, statuses=list(OtjStatus),
        may_log=_may_log(apprenticeship), closed_reason=otj.closed_reason(apprenticeship),
        page_args={"apprenticeship_id": apprenticeship.id, **({"status": status.value} if status else {})},
    )


def _activity_choices(apprenticeship) -> tuple[dict[str, str], list[dict]]:
    """Radio choices, counting types first, and for each an item with a hint (why the others never count)."""
    counting = otj.counting_activity_types(apprenticeship)
    ordered = counting + [t for t in ActivityType if t not in counting]
    items = []
    for activity_type in ordered:
        if activity_type in counting:
            items.append({})
        else:
            why = apprenticeship_rules.WHY_NOT_COUNTED.get(activity_type, "")
            items.append({"hint": {"text": f"Does not count as off-the-job training. {why}."}})
    return {t.value: t.label for t in ordered}, items


def _ksb_groups(apprenticeship) -> list[dict]:
    ksbs = apprenticeship.standard_version.ksbs
    return [{"key": kind.value, "title": title, "ksbs": [k for k in ksbs if k.kind is kind]}
            for kind, title in KSB_GROUPS if any(k.kind is kind for k in ksbs)]


@bp.route("/apprenticeships/<int:apprenticeship_id>/off-the-job/new", methods=["GET", "POST"])
@policy.signed_in
def log_otj(apprenticeship_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    if not policy.can_log_otj_for(current_user, apprenticeship):
        abort(403)
    form = LogOtjForm()
    form.activity_type.choices, activity_items = _activity_choices(apprenticeship)
    closed = otj.closed_reason(apprenticeship)
    if not closed and form.validate_on_submit():
        try:
            activity = otj.log_activity(
                current_user, apprenticeship, occurred_on=form.occurred_on.data, minutes=form.total_minutes,
                activity_type=form.activity_type.data, description=form.description.data,
                ksb_ids=form.ksb_ids.data, evidence=form.upload)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, ServiceError(error.message, LOG_FIELDS.get(error.field, error.field)),
                              "occurred_on")
        else:
            db.session.commit()
            name = apprenticeship.apprentice.name
            for_whom = "" if current_user.id == apprenticeship.apprentice_id else f" for {name}"
            flash(f"Off-the-job hours logged{for_whom}: {otj.describe_minutes(activity.minutes)} on "
                  f"{activity.occurred_on:%-d %B %Y}. They are waiting for approval.", "success")
            return redirect(url_for("apprenticeships.off_the_job", apprenticeship_id=apprenticeship.id))
    return _log_page(apprenticeship, form, activity_items, 400 if request.method == "POST" else 200)


def _log_page(apprenticeship, form: LogOtjForm, activity_items: list[dict], status: int):
    return render(
        "apprenticeships/otj_new.html", title="Log off-the-job hours", form=form, apprenticeship=apprenticeship,
        activity_items=activity_items, ksb_groups=_ksb_groups(apprenticeship),
        closed_reason=otj.closed_reason(apprenticeship), on_behalf=current_user.id != apprenticeship.apprentice_id,
        max_hours=otj.max_minutes_per_day() / 60, evidence_hint=evidence_files.allowed_text(),
        accept=evidence_files.ACCEPT, today=clock.today(), last_day=min(clock.today(), otj.end_of(apprenticeship)),
    ), status


# How much of a request too large to take whole is read for the fields typed ahead of its file: far more than
# the form's words (a description of 2,000 characters, a few dozen KSBs), far less than a file.
TYPED_FIELDS_BYTES = 256 * 1024


def _fields_typed_before_the_file() -> MultiDict:
    """The fields of a multipart request that is too large to take whole (over MAX_CONTENT_LENGTH), read from its
    start up to the first file. A browser sends a form's fields in the form's order, and the evidence file comes
    after everything the person typed, so what they typed is there even when the file is far too large."""
    boundary = request.mimetype_params.get("boundary", "")
    length = request.content_length
    fields: MultiDict = MultiDict()
    if request.mimetype != "multipart/form-data" or not boundary or not length:
        return fields
    stream = get_input_stream(request.environ)
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=TYPED_FIELDS_BYTES)
    budget, name, parts = min(length, TYPED_FIELDS_BYTES), None, []
    while budget > 0:
        chunk = stream.read(min(evidence_files.CHUNK, budget))
        if not chunk:
            return fields
        budget -= len(chunk)
        decoder.receive_data(chunk)
        while not isinstance(event := decoder.next_event(), NeedData):
            if isinstance(event, File | Epilogue):
                return fields
            if isinstance(event, Field):
                name, parts = event.name, []
            elif isinstance(event, Data) and name is not None:
                parts.append(event.data)
                if not event.more_data:
                    fields.add(name, b"".join(parts).decode("utf-8", "replace"))
                    name = None
    return fields


@bp.errorhandler(413)
def _request_too_large(_error):
    """Evidence far over its size limit makes the whole request too large to read. The form comes back with what
    the person typed and the error beside the file field (the file itself cannot be kept: browsers never fill a
    file field again). Elsewhere, and for anyone who may not log these hours, the plain "too large" page."""
    plain = render_template("errors/413.html", title="The file is too large"), 413
    if request.endpoint != "apprenticeships.log_otj" or request.method != "POST":
        return plain
    try:
        apprenticeship = apprenticeship_or_404(request.view_args["apprenticeship_id"])
    except HTTPException:
        return plain
    if not policy.can_log_otj_for(current_user, apprenticeship):
        return plain
    form = LogOtjForm(formdata=_fields_typed_before_the_file())
    form.activity_type.choices, activity_items = _activity_choices(apprenticeship)
    form.evidence.errors = [evidence_files.too_large_message()]
    return _log_page(apprenticeship, form, activity_items, 413)


def _activity_or_404(apprenticeship, activity_id: int):
    activity = otj.activity_of(apprenticeship, activity_id)
    if activity is None:
        abort(404)
    return activity


def _may_decide(activity) -> bool:
    return (activity.status is OtjStatus.SUBMITTED and activity.logged_by_id != current_user.id
            and policy.can_decide_otj(current_user, activity))


def _activity_page(apprenticeship, activity, form: DecisionForm | None = None, status: int = 200):
    may_decide = _may_decide(activity)
    if form is None and may_decide:
        form = DecisionForm(formdata=None, return_to=request.args.get("from", ""))
    return render(
        "apprenticeships/otj_show.html",
        title=f"Off-the-job hours on {activity.occurred_on:%-d %B %Y}: {apprenticeship.apprentice.name}",
        apprenticeship=apprenticeship, activity=activity, form=form, may_decide=may_decide,
    ), status


@bp.get("/apprenticeships/<int:apprenticeship_id>/off-the-job/<int:activity_id>")
@policy.signed_in
def otj_activity(apprenticeship_id: int, activity_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    return _activity_page(apprenticeship, _activity_or_404(apprenticeship, activity_id))


@bp.post("/apprenticeships/<int:apprenticeship_id>/off-the-job/<int:activity_id>/decision")
@policy.signed_in
def decide_otj(apprenticeship_id: int, activity_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    activity = _activity_or_404(apprenticeship, activity_id)
    if not policy.can_decide_otj(current_user, activity):
        abort(403)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            if form.decision.data == "approve":
                otj.approve(current_user, [activity])
            else:
                otj.reject(current_user, activity, form.reason.data)
        except ServiceError as error:
            db.session.rollback()
            add_service_error(form, error, "decision")
        else:
            db.session.commit()
            verb = "approved" if form.decision.data == "approve" else "rejected"
            flash(f"The hours {apprenticeship.apprentice.name} logged on {activity.occurred_on:%-d %B %Y} have been "
                  f"{verb}.", "success")
            if form.return_to.data == "queue":
                return redirect(url_for("apprenticeships.supervising"))
            return redirect(url_for("apprenticeships.otj_activity", apprenticeship_id=apprenticeship.id,
                                    activity_id=activity.id))
    activity = _activity_or_404(apprenticeship, activity_id)
    return _activity_page(apprenticeship, activity, form, status=400)


@bp.get("/apprenticeships/<int:apprenticeship_id>/off-the-job/<int:activity_id>/evidence")
@policy.signed_in
def otj_evidence(apprenticeship_id: int, activity_id: int):
    apprenticeship = apprenticeship_or_404(apprenticeship_id)
    evidence_file = _activity_or_404(apprenticeship, activity_id).evidence
    if evidence_file is None:
        abort(404)
    try:
        stream = evidence_files.open_evidence(evidence_file)
    except (FileNotFoundError, ValueError):
        abort(404)
    response = send_file(stream, mimetype=evidence_file.content_type, as_attachment=True,
                         download_name=evidence_file.filename, etag=evidence_file.sha256, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# The supervisor's queue registers its routes on ``bp`` too.
from app.apprenticeships import supervising  # noqa: E402,F401
