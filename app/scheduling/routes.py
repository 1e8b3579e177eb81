"""Scheduled jobs (admins): the jobs with their last and next runs, "Run now", and the history of runs."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app import policy
from app.extensions import db
from app.models import JobOutcome, JobRun
from app.services import audit, scheduling

bp = Blueprint("scheduling", __name__, url_prefix="/admin/scheduled-jobs")
manage_jobs = policy.requires(policy.can_manage_scheduled_jobs)
PAGE_SIZE = 50


@bp.get("", endpoint="index")
@manage_jobs
def index():
    return render_template("scheduling/index.html", title="Scheduled jobs", states=scheduling.job_states(),
                           active=scheduling.active_scheduler(), scheduling=scheduling)


@bp.post("/<job>/run", endpoint="run_now")
@manage_jobs
def run_now(job: str):
    if job not in scheduling.JOBS:
        abort(404)
    run = scheduling.run_job(job, scheduling.RUN_ONCE)
    audit.record(current_user, "scheduler.run_now", run, f"Ran the job {job} now: {run.outcome.value}",
                 job=job, outcome=run.outcome.value, counts=run.counts)
    db.session.commit()
    duration = scheduling.describe_duration(run)
    held = scheduling.held_for_quiet_hours(job, run.counts)
    if run.outcome == JobOutcome.SUCCEEDED and held is not None:
        flash(f"{job} held: {held}.", "success")
    elif run.outcome == JobOutcome.SUCCEEDED:
        flash(f"{job} succeeded in {duration}: {scheduling.describe_counts(run.counts, skip_zero=True)}.", "success")
    else:
        flash(f"{job} failed after {duration}: {run.error.splitlines()[0]}", "error")
    return redirect(url_for("scheduling.index"))


@bp.get("/history", endpoint="history")
@manage_jobs
def history():
    job = request.args.get("job", "").strip()
    outcome = request.args.get("outcome", "").strip()
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc())
    if job in scheduling.JOBS:
        query = query.where(JobRun.job == job)
    else:
        job = ""
    if outcome in {o.value for o in JobOutcome}:
        query = query.where(JobRun.outcome == JobOutcome(outcome))
    else:
        outcome = ""
    page = db.paginate(query, per_page=PAGE_SIZE, error_out=False)
    return render_template("scheduling/history.html", title="History of scheduled job runs", page=page, job=job,
                           outcome=outcome, jobs=list(scheduling.JOBS), outcomes=list(JobOutcome),
                           scheduling=scheduling)
