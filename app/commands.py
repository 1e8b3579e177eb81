"""Command-line tools: `flask users`, `flask organisations`, `flask courses`, `flask standards`, `flask demo`,
`flask outbox`, `flask certificates`, `flask scheduler`, `flask backup`.

Every error is one clear line on stderr and a non-zero exit; nothing is changed on error.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app

from app.extensions import db
from app.models import OrganisationKind, Role
from app.services import ServiceError, accounts, organisations, outbox, standards
from app.services.course_sync import CourseFilesInvalid, sync_courses
from app.services.passwords import password_problem

ROLE_NAMES = [r.value for r in Role]


def _fail(message: str) -> None:
    db.session.rollback()
    raise click.ClickException(message)


users = click.Group("users", help="Create and manage people from the command line.")


@users.command("create")
@click.option("--email", required=True, help="The person's email address (their sign-in).")
@click.option("--name", required=True, help="The person's full name.")
@click.option("--organisation", "organisation_code", required=True,
              help="Code of their organisation, e.g. E09000012 (Hackney) or LC (London Councils).")
@click.option("--role", "roles", multiple=True, required=True, metavar="ROLE",
              help=f"A role to give; repeat for several. One of: {', '.join(ROLE_NAMES)}.")
@click.option("--scope", "scope_codes", multiple=True, metavar="CODE",
              help="For a coordinator: code of an organisation they coordinate; repeat for several. "
                   "Without --scope a coordinator is programme-wide.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
def create_user(email, name, organisation_code, roles, scope_codes, password_stdin):
    """Create a person with a password, e.g. the first admin."""
    unknown = [r for r in roles if r not in ROLE_NAMES]
    if unknown:
        _fail(f"unknown role {unknown[0]!r}; choose from {', '.join(ROLE_NAMES)}")
    organisation = accounts.organisation_by_code(organisation_code)
    if organisation is None:
        _fail(f"unknown organisation code {organisation_code!r}; run 'flask organisations list' to see codes")
    scope = []
    for code in scope_codes:
        scoped = accounts.organisation_by_code(code)
        if scoped is None:
            _fail(f"unknown organisation code {code!r} in --scope")
        scope.append(scoped)
    try:
        normalised = accounts.normalise_email(email)
    except ServiceError as error:
        _fail(error.message)
    if accounts.find_person_by_email(normalised):
        _fail(f"someone with the email address {normalised} already has an account")

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, email=normalised, name=name)
    if problem:
        _fail(problem)
    try:
        person = accounts.create_person(
            None, email=normalised, name=name, organisation=organisation, roles=[Role(r) for r in roles],
            scope=scope, password=password,
        )
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"Created {person.name} <{person.email}> in {organisation.name} as {accounts.describe_roles(person)}")


@users.command("invite")
@click.argument("email")
def invite_user(email):
    """Send (again) the invitation email to a person who has not set a password."""
    person = accounts.find_person_by_email(email)
    if person is None:
        _fail(f"no person with the email address {email}")
    try:
        accounts.send_invitation(None, person)
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"Invitation queued for {person.email}")


@users.command("reset-second-factor")
@click.argument("email")
@click.option("--reason", default="", help="Why, for the audit trail (e.g. a lost phone).")
def reset_second_factor(email, reason):
    """Remove a person's authenticator app and recovery codes: they set one up again at their next sign-in.
    The way back in for the last admin who has lost both."""
    from app.services import multi_factor

    person = accounts.find_person_by_email(email)
    if person is None:
        _fail(f"no person with the email address {email}")
    try:
        multi_factor.reset(None, person, reason)
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"Sign-in with an authenticator app reset for {person.email}")


organisations_cli = click.Group("organisations", help="London's organisations and partner bodies.")


@organisations_cli.command("load")
def load_organisations():
    """Load the 33 London local authorities and the partner bodies (safe to repeat)."""
    report = organisations.load_reference_organisations()
    db.session.commit()
    click.echo(f"Organisations: {len(report.created)} created, {len(report.updated)} updated, "
               f"{report.unchanged} unchanged")


@organisations_cli.command("list")
def list_organisations():
    """Print every organisation's code and name."""
    for organisation in organisations.list_organisations():
        click.echo(f"{organisation.code:<10} {organisation.kind.label:<16} {organisation.name}")


@organisations_cli.command("add")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice([k.value for k in OrganisationKind]), default="partner", show_default=True)
def add_organisation(code, name, kind):
    """Add an organisation."""
    try:
        organisation = organisations.create_organisation(None, code=code, name=name, kind=OrganisationKind(kind))
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    click.echo(f"Added {organisation.name} ({organisation.code})")


courses_cli = click.Group("courses", help="The courses, kept as files in courses/.")


def _courses_root(path: str | None) -> Path:
    root = Path(path or current_app.config["COURSES_DIR"])
    if not root.is_dir():
        _fail(f"{root} is not a folder of courses")
    return root


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _report_problems(problems) -> None:
    for problem in problems:
        click.echo(str(problem))
    files = len({problem.path for problem in problems})
    _fail(f"{_plural(len(problems), 'problem')} in {_plural(files, 'file')}")


@courses_cli.command("validate")
@click.argument("path", required=False)
def validate_courses(path):
    """Check the course files and name every problem as path:line: message (PATH: the courses folder)."""
    from app.content import read_courses

    tree = read_courses(_courses_root(path))
    if tree.problems:
        _report_problems(tree.problems)
    click.echo(f"{_plural(len(tree.courses), 'course')}, {_plural(tree.lesson_count, 'lesson')}, "
               f"{_plural(tree.check_count, 'check')}: no problems")


@courses_cli.command("sync")
@click.argument("path", required=False)
def sync_courses_command(path):
    """Load the course files into Pathways: all courses or none; removed ones are retired, never deleted."""
    try:
        report = sync_courses(_courses_root(path))
    except CourseFilesInvalid as error:
        _report_problems(error.problems)
    db.session.commit()
    for line in report.lines():
        click.echo(line)


standards_cli = click.Group("standards", help="Apprenticeship standards and their KSBs.")


@standards_cli.command("load")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The standards file to load [default: app/data/standards.yaml].")
def load_standards(path):
    """Add or update the standards, versions and KSBs of the file: all or nothing, and safe to repeat."""
    try:
        result = standards.load_standards(path)
    except standards.StandardsFileInvalid as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        _fail(error.message)
    except ServiceError as error:
        _fail(error.message)
    db.session.commit()
    for line in result.lines():
        click.echo(line)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)


@standards_cli.command("list")
def list_standards():
    """Print every standard with its versions and the KSB count of its current version."""
    for row in standards.list_standards():
        standard = row.standard
        versions = ", ".join(row.versions) or "no versions"
        click.echo(f"{standard.reference:<8} level {standard.level}  {standard.title} (versions: {versions}; "
                   f"{_plural(row.ksb_count, 'KSB')} in the current version)")


demo = click.Group("demo", help="Demonstration data for development.")


@demo.command("load")
@click.option("--quiet", is_flag=True, help="Print only the sign-in details.")
def load_demo(quiet):
    """Load demo people for every role in several boroughs and the demo apprenticeship intake (safe to repeat)."""
    from app.services.demo import DEMO_PASSWORD, DEMO_PEOPLE, load_demo_data
    from app.services.demo_apprenticeships import load_demo_apprenticeships

    if current_app.config["ENV_NAME"] == "production":
        _fail("demo data is for development; refusing to load it in production")
    created, existing = load_demo_data()
    db.session.commit()
    apprenticeships = load_demo_apprenticeships()
    if not quiet:
        click.echo(f"Demo people: {created} created, {existing} already there")
        click.echo(f"Demo apprenticeships: {apprenticeships} created" if apprenticeships
                   else "Demo apprenticeships: the demo intake is already there")
    click.echo("Demo sign-ins (password for all: " + DEMO_PASSWORD + "):")
    for person in DEMO_PEOPLE:
        click.echo(f"  {', '.join(r.value for r in person.roles):<22} {person.email}")


mail = click.Group("outbox", help="The email outbox.")


@mail.command("deliver")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1),
              help="Most messages to try in this run.")
def deliver(limit):
    """Send queued emails that are due (MAIL_BACKEND=smtp); safe beside the scheduler's outbox job."""
    from sqlalchemy.exc import SQLAlchemyError

    if not outbox.sending_enabled():
        _fail("MAIL_BACKEND is not 'smtp'; messages stay on the outbox page")
    try:
        report = outbox.deliver_due(limit=limit)
    except SQLAlchemyError as error:
        _fail(f"the database failed while sending email ({type(error).__name__}); a message the mail server may "
              "have accepted is sent again, with the same Message-ID, once its claim lapses (MAIL_CLAIM_SECONDS)")
    click.echo(f"Outbox: {report.sent} sent, {report.retrying} to retry, {report.failed} failed for good")


certificates_cli = click.Group("certificates", help="Certificates for whole cohorts.")


def _issue_with_progress(label: str, pending: int, issue):
    """Run ``issue(on_progress)``, printing a progress line every 25 certificates, then the summary."""
    step = 25

    def on_progress(result) -> None:
        done = result.issued + len(result.failed)
        if done % step == 0 or done == pending:
            click.echo(f"  {label}: {result.issued} of {pending} issued" +
                       (f", {len(result.failed)} failed" if result.failed else ""))

    result = issue(on_progress)
    click.echo(f"{label}: {result.summary()}")
    for key, error in result.failed:
        click.echo(f"Could not issue the certificate for {key}: {error}", err=True)
    return result


@certificates_cli.command("issue")
@click.option("--run", "run_id", type=int, help="Issue the certificates of this course run (its id).")
@click.option("--intake", "intake_id", type=int, help="Issue the certificates of this intake (its id).")
@click.option("--processes", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Worker processes that render the PDFs.")
def issue_certificates(run_id, intake_id, processes):
    """Issue every certificate still waiting in a course run or an intake (safe to repeat)."""
    from app.models import CourseRun, Intake
    from app.services import certificate_batches

    if (run_id is None) == (intake_id is None):
        _fail("give either --run ID or --intake ID")
    if run_id is not None:
        run = db.session.get(CourseRun, run_id)
        if run is None:
            _fail(f"there is no course run with the id {run_id}")
        label = f"{run.course.title}: {run.name}"
        pending = certificate_batches.progress_for_run(run).pending
        result = _issue_with_progress(label, pending, lambda on_progress: certificate_batches.issue_for_run(
            run, actor=None, processes=processes, on_progress=on_progress))
    else:
        intake = db.session.get(Intake, intake_id)
        if intake is None:
            _fail(f"there is no intake with the id {intake_id}")
        label = f"Intake {intake.name}"
        pending = certificate_batches.progress_for_intake(intake).pending
        result = _issue_with_progress(label, pending, lambda on_progress: certificate_batches.issue_for_intake(
            intake, actor=None, processes=processes, on_progress=on_progress))
    if result.failed:
        raise click.exceptions.Exit(1)


@certificates_cli.command("catch-up")
@click.option("--processes", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Worker processes that render the PDFs.")
def catch_up_certificates(processes):
    """Issue every certificate still waiting, in every course run and intake (safe to repeat)."""
    from app.services import certificate_batches

    total = certificate_batches.catch_up(processes=processes, echo=click.echo)
    click.echo(f"All cohorts: {total.summary()}")
    for key, error in total.failed:
        click.echo(f"Could not issue the certificate for {key}: {error}", err=True)
    if total.failed:
        raise click.exceptions.Exit(1)


scheduler_cli = click.Group("scheduler", help="The scheduled jobs: run the scheduler, run one job now, list them.")


def _when(value) -> str:
    from app.services.clock import LONDON

    if value is None:
        return "-"
    return value.astimezone(LONDON).strftime("%-d %B %Y %H:%M")


@scheduler_cli.command("run")
def run_scheduler():
    """Run the scheduled jobs until stopped (SIGTERM or Ctrl+C). Only one scheduler is active at a time, holding
    a lease: a second one stands by and takes over when the first stops, dies or hangs."""
    from app.services import scheduling

    try:
        scheduler = scheduling.Scheduler(current_app._get_current_object())
    except ServiceError as error:
        _fail(f"SCHEDULER_JOBS: {error.message}")
    except scheduling.SettingError as error:
        _fail(str(error))
    scheduler.install_signal_handlers()
    scheduler.serve()


@scheduler_cli.command("run-once")
@click.argument("job")
@click.option("--now", "send_now", is_flag=True,
              help="Send what quiet hours hold back (reminders, weekly digests) at once, to try them out in "
                   "development. Refused in production.")
def run_job_once(job, send_now):
    """Run one job now (recorded with the trigger run-once) and print its counts, or what quiet hours held."""
    import logging

    from app.services import reminders, scheduling

    production = current_app.config.get("ENV_NAME") == "production"
    try:
        holds = scheduling.get_job(job).holds
    except scheduling.UnknownJob as error:
        _fail(error.message)
    if send_now and holds is None:
        _fail(f"--now is only for jobs that quiet hours hold back "
              f"({', '.join(j.name for j in scheduling.JOBS.values() if j.holds)}); {job} has no quiet hours")
    if send_now and production:
        start, end = reminders.DAYTIME_HOURS
        _fail(f"--now is refused in production: {holds} go out only from {start:02d}:00 to {end:02d}:00 London "
              "time, so nobody is emailed at night")
    # The outcome is printed as one line below (and recorded): no log lines around it.
    logger = logging.getLogger(scheduling.log.name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        run = scheduling.run_job(job, scheduling.RUN_ONCE, ignore_quiet_hours=send_now)
    finally:
        logger.setLevel(level)
    duration = scheduling.describe_duration(run)
    if run.outcome.value != "succeeded":
        _fail(f"{job} failed after {duration} (run {run.id}): {run.error.splitlines()[0]}")
    held = scheduling.held_for_quiet_hours(job, run.counts)
    if held is not None:
        hint = "" if production or not run.counts["held_for_daytime"] else " (add --now to send them now)"
        click.echo(f"{job} held: {held}{hint}")
        return
    click.echo(f"{job} succeeded in {duration}: {scheduling.describe_counts(run.counts)}")


@scheduler_cli.command("list")
def list_jobs():
    """Print every job with its schedule, its last run and its next run."""
    from app.services import scheduling

    rows = [("JOB", "SCHEDULE", "LAST RUN", "NEXT RUN")]
    for state in scheduling.job_states():
        last = state.last
        last_text = "never run" if last is None else f"{last.outcome.value} {_when(last.started_at)}"
        rows.append((state.job.name, state.job.schedule.description, last_text, _when(state.next_run)))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        click.echo("".join(value.ljust(width + 2) for value, width in zip(row, widths, strict=False)) + row[3])
    holder = scheduling.active_scheduler()
    click.echo(f"Scheduler: running ({holder})" if holder else "Scheduler: not running (start it with "
               "'flask scheduler run')")


backup_cli = click.Group("backup", help="Back up and restore the database and the evidence files together.")


@backup_cli.command("create")
@click.argument("path", required=False, type=click.Path())
def create_backup(path):
    """Write one archive (.tar.gz) holding the database, the evidence files and a manifest of both, to PATH (a
    file or a folder; by default instance/backups/). Safe while Pathways runs."""
    from app.services import backup

    try:
        backup.create(path, echo=click.echo)
    except backup.BackupError as error:
        _fail(error.message)


@backup_cli.command("check")
@click.argument("path", type=click.Path(path_type=Path))
def check_backup(path):
    """Check that the archive at PATH is whole: every file against the checksum in its manifest."""
    from app.services import backup

    try:
        checked = backup.verify(path, echo=click.echo)
    except backup.BackupError as error:
        _fail(error.message)
    click.echo(f"{path} is whole: {backup.describe(checked)}")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database or evidence folder that already holds data.")
def restore_backup(path, force):
    """Replace the database and the evidence files with the backup at PATH. Stop the web servers and the
    scheduler first."""
    from app.services import backup

    try:
        backup.restore(path, force=force, echo=click.echo)
    except backup.BackupError as error:
        _fail(error.message)


def init_commands(app: Flask) -> None:
    app.cli.add_command(backup_cli)
    app.cli.add_command(users)
    app.cli.add_command(organisations_cli)
    app.cli.add_command(courses_cli)
    app.cli.add_command(standards_cli)
    app.cli.add_command(demo)
    app.cli.add_command(mail)
    app.cli.add_command(certificates_cli)
    app.cli.add_command(scheduler_cli)
    from app.single_sign_on_commands import sso_cli

    app.cli.add_command(sso_cli)
