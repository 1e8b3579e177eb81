"""Pages for a cohort's certificates: a course run's or an intake's, issuing the next chunk of them, and the ZIP.

Without JavaScript each "Issue" or "Continue" issues one chunk and comes back with the progress; with it, the
page posts the chunks one after another and shows the progress as it goes. Either way, what has been issued is
committed chunk by chunk, so closing the page loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from app import policy
from app.certificate_batches.forms import IssueForm
from app.extensions import db
from app.models import CourseRun, Intake
from app.services import calendar, certificate_batches, cohort_review
from app.services.certificate_batches import Chunk, Progress

bp = Blueprint("certificate_batches", __name__)
manage_runs = policy.requires(policy.can_manage_runs)
manage_intakes = policy.requires(policy.can_manage_apprenticeships)
PAGE_SIZE = 50


@dataclass
class Cohort:
    """What the page needs to know of a run or an intake."""

    caption: str
    name: str
    back_href: str
    back_text: str
    page_href: str
    issue_href: str
    zip_href: str
    scoped: bool
    scope_text: str


def _run_or_404(run_id: int) -> CourseRun:
    """The run, if the coordinator may review it (one they set up or with people of theirs on it)."""
    run = cohort_review.visible_run(current_user, run_id)
    if run is None:
        abort(404)
    return run


def _intake_or_404(intake_id: int) -> Intake:
    """The intake, if the coordinator may review it (one they coordinate or with an apprentice of theirs)."""
    intake = cohort_review.visible_intake(current_user, intake_id)
    if intake is None:
        abort(404)
    return intake


def _run_cohort(run: CourseRun) -> Cohort:
    return Cohort(
        caption=run.course.title, name=run.name, back_href=url_for("runs.show", run_id=run.id),
        back_text="Back to the run", page_href=url_for("certificate_batches.run", run_id=run.id),
        issue_href=url_for("certificate_batches.run_issue", run_id=run.id),
        zip_href=url_for("certificate_batches.run_zip", run_id=run.id),
        scoped=policy.managed_organisation_ids(current_user) is not None,
        scope_text="of people from your organisations")


def _intake_cohort(intake: Intake) -> Cohort:
    return Cohort(
        caption=f"Intake: {intake.name}", name=intake.name, back_href=url_for("intakes.show", intake_id=intake.id),
        back_text="Back to the intake", page_href=url_for("certificate_batches.intake", intake_id=intake.id),
        issue_href=url_for("certificate_batches.intake_issue", intake_id=intake.id),
        zip_href=url_for("certificate_batches.intake_zip", intake_id=intake.id),
        scoped=policy.apprenticeship_scope_filter(current_user) is not None,
        scope_text="of apprentices employed by or placed in your organisations")


def _page(cohort: Cohort, progress: Progress, issued_query, title: str):
    page = db.paginate(issued_query, page=request.args.get("page", 1, type=int),
                       per_page=PAGE_SIZE, error_out=False)
    form = IssueForm(formdata=None)
    after = request.args.get("after", "")
    form.after.data = after if after.isdigit() and len(after) < 12 else "0"
    continuing = form.after.data != "0" and not progress.done
    form.submit.label.text = ("Continue issuing certificates" if continuing else
                              f"Issue {progress.pending} {'certificate' if progress.pending == 1 else 'certificates'}")
    return render_template("certificate_batches/cohort.html", title=title, cohort=cohort, progress=progress,
                           page=page, issue_form=form, continuing=continuing, chunk_size=certificate_batches.CHUNK)


def _processes() -> int:
    return int(current_app.config.get("CERTIFICATE_BATCH_PROCESSES", 1))


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _after_chunk(chunk: Chunk, progress: Progress, page_href: str, page_endpoint: str, **args):
    failures = [{"holder": chunk.labels.get(key, key), "error": error} for key, error in chunk.result.failed]
    if _wants_json():
        return jsonify(issued_now=chunk.result.issued, issued=progress.issued, pending=progress.pending,
                       total=progress.total, after=chunk.after, more=chunk.more, failed=failures,
                       status=progress.describe())
    issued = chunk.result.issued
    message = f"{issued} {'certificate' if issued == 1 else 'certificates'} issued. {progress.describe()}."
    if chunk.more:
        message += " Select ‘Continue issuing certificates’ to issue the next ones."
    flash(message, "success")
    for failure in failures:
        flash(f"The certificate for {failure['holder']} could not be issued: {failure['error']}", "error")
    if chunk.more:
        return redirect(url_for(page_endpoint, after=chunk.after, **args))
    return redirect(page_href)


def _zip_response(archive, name: str):
    return send_file(archive, mimetype="application/zip", as_attachment=True,
                     download_name=f"{calendar.filename(name)}-certificates.zip")


# Course runs ---------------------------------------------------------------------------------------------


@bp.get("/runs/<int:run_id>/certificates")
@manage_runs
def run(run_id: int):
    run = _run_or_404(run_id)
    return _page(_run_cohort(run), certificate_batches.progress_for_run(run, actor=current_user),
                 certificate_batches.issued_for_run_query(run, actor=current_user),
                 title=f"Certificates for {run.course.title}: {run.name}")


@bp.post("/runs/<int:run_id>/certificates/issue")
@manage_runs
def run_issue(run_id: int):
    run = _run_or_404(run_id)
    form = IssueForm()
    if not form.validate_on_submit():
        abort(400)
    chunk = certificate_batches.issue_chunk_for_run(run, actor=current_user, after=form.after_id,
                                                    processes=_processes())
    progress = certificate_batches.progress_for_run(run, actor=current_user)
    return _after_chunk(chunk, progress, url_for("certificate_batches.run", run_id=run.id),
                        "certificate_batches.run", run_id=run.id)


@bp.get("/runs/<int:run_id>/certificates.zip")
@manage_runs
def run_zip(run_id: int):
    run = _run_or_404(run_id)
    return _zip_response(certificate_batches.zip_for_run(run, current_user), f"{run.course.slug} {run.name}")


# Intakes ---------------------------------------------------------------------------------------------------


@bp.get("/intakes/<int:intake_id>/certificates")
@manage_intakes
def intake(intake_id: int):
    intake = _intake_or_404(intake_id)
    return _page(_intake_cohort(intake), certificate_batches.progress_for_intake(intake, actor=current_user),
                 certificate_batches.issued_for_intake_query(intake, actor=current_user),
                 title=f"Certificates for the intake {intake.name}")


@bp.post("/intakes/<int:intake_id>/certificates/issue")
@manage_intakes
def intake_issue(intake_id: int):
    intake = _intake_or_404(intake_id)
    form = IssueForm()
    if not form.validate_on_submit():
        abort(400)
    chunk = certificate_batches.issue_chunk_for_intake(intake, actor=current_user, after=form.after_id,
                                                       processes=_processes())
    progress = certificate_batches.progress_for_intake(intake, actor=current_user)
    return _after_chunk(chunk, progress, url_for("certificate_batches.intake", intake_id=intake.id),
                        "certificate_batches.intake", intake_id=intake.id)


@bp.get("/intakes/<int:intake_id>/certificates.zip")
@manage_intakes
def intake_zip(intake_id: int):
    intake = _intake_or_404(intake_id)
    return _zip_response(certificate_batches.zip_for_intake(intake, current_user), f"intake {intake.name}")
