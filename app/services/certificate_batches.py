"""Certificates for a whole cohort: what is still to be issued for a course run or an apprenticeship intake,
issuing it in batches (rendered in worker processes when asked), and a ZIP of a cohort's certificates.

Drafts are prepared and stored in this process, where the database session lives; only the rendering, which
needs no database, goes to the workers. Stored certificates are committed every ``COMMIT_EVERY``, so a failure
loses nothing already issued; one certificate that fails is recorded and the rest carry on. Issuing is
idempotent: an achievement that already has a current certificate is counted as "already" and left alone.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import multiprocessing
import os
import re
import tempfile
import threading
import unicodedata
import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from sqlalchemy import Select, exists, func, literal, select, union_all
from sqlalchemy.orm import joinedload, selectinload

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    Certificate,
    CertificateFile,
    Course,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    Intake,
    Person,
    Placement,
    StandardVersion,
)
from app.services import audit
from app.services import certificates as certificate_service

log = logging.getLogger("pathways.certificates")

# Certificates issued per request of the page (a request stays well under a few seconds).
CHUNK = 25
# Stored certificates are committed this often during a batch.
COMMIT_EVERY = 50
# Drafts waiting for a worker, per worker: enough to keep every worker busy while this process stores.
QUEUE_PER_WORKER = 4
# A ZIP stays in memory up to this size, then spills to a temporary file.
ZIP_IN_MEMORY_BYTES = 16 * 1024 * 1024
MANIFEST_COLUMNS = ["Number", "Holder", "Achievement", "Completed on", "Status", "SHA-256", "File"]

Achievement = Enrolment | Apprenticeship


@dataclass
class BatchResult:
    """What a batch did: certificates issued, achievements that already had one, and failures as
    (achievement key, what went wrong)."""

    issued: int = 0
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: BatchResult) -> None:
        self.issued += other.issued
        self.already += other.already
        self.failed.extend(other.failed)

    def summary(self) -> str:
        return f"{self.issued} issued, {self.already} already issued, {len(self.failed)} failed"


@dataclass
class Progress:
    """How far a cohort's certificates have got, counting only the people the viewer acts on."""

    issued: int
    pending: int

    @property
    def total(self) -> int:
        return self.issued + self.pending

    @property
    def done(self) -> bool:
        return self.pending == 0

    def describe(self) -> str:
        return f"{self.issued} of {self.total} {'certificate' if self.total == 1 else 'certificates'} issued"


@dataclass
class Chunk:
    """One step of issuing a cohort's certificates: the batch, where the next step starts, and whether any
    achievements are left after it."""

    result: BatchResult
    after: int
    more: bool
    # The holder's name for each achievement key of the chunk, to name any failure.
    labels: dict[str, str] = field(default_factory=dict)


# Who the viewer acts on ------------------------------------------------------------------------------------


def _run_scope(actor: Person | None):
    """A condition on Person for the learners of a run ``actor`` acts on; ``None``: everyone (or the CLI)."""
    if actor is None:
        return None
    scope = policy.managed_organisation_ids(actor)
    if scope is None:
        return None
    return Person.organisation_id.in_(scope or {-1})


def _intake_scope(actor: Person | None):
    return None if actor is None else policy.apprenticeship_scope_filter(actor)


def may_act_on_enrolment(actor: Person | None, enrolment: Enrolment) -> bool:
    return actor is None or (policy.can_manage_runs(actor)
                             and policy.can_manage_in_organisation(actor, enrolment.person.organisation_id))


def may_act_on_apprenticeship(actor: Person | None, apprenticeship: Apprenticeship) -> bool:
    return actor is None or (policy.can_manage_apprenticeships(actor)
                             and policy.coordinates_apprenticeship(actor, apprenticeship))


# What is pending and what is issued ----------------------------------------------------------------------


def _has_current_certificate(column):
    return exists().where(column, Certificate.current_key.is_not(None))


def _pending_enrolments(actor: Person | None) -> Select:
    query = (
        select(Enrolment)
        .join(Enrolment.person)
        .join(Enrolment.run)
        .join(CourseRun.course)
        .where(Enrolment.status == EnrolmentStatus.COMPLETED, Course.gives_certificate.is_(True),
               ~_has_current_certificate(Certificate.enrolment_id == Enrolment.id))
    )
    scope = _run_scope(actor)
    return query if scope is None else query.where(scope)


def _pending_apprenticeships(actor: Person | None) -> Select:
    query = select(Apprenticeship).where(
        Apprenticeship.status == ApprenticeshipStatus.COMPLETED,
        ~_has_current_certificate(Certificate.apprenticeship_id == Apprenticeship.id))
    scope = _intake_scope(actor)
    return query if scope is None else query.where(scope)


def _enrolment_options(query: Select) -> Select:
    # What a course certificate is drawn from, loaded with the enrolments rather than one by one.
    return query.options(joinedload(Enrolment.person), joinedload(Enrolment.run).joinedload(CourseRun.course))


def _apprenticeship_options(query: Select) -> Select:
    return query.options(
        joinedload(Apprenticeship.apprentice),
        joinedload(Apprenticeship.standard_version).joinedload(StandardVersion.standard),
        selectinload(Apprenticeship.placements).joinedload(Placement.host_organisation),
    )


def pending_for_run(run: CourseRun, *, actor: Person | None = None, after: int = 0,
                    limit: int | None = None) -> list[Enrolment]:
    """Completed enrolments on ``run`` (of a course that gives certificates) with no current certificate, in
    id order from ``after``; only the people ``actor`` acts on when given."""
    query = _enrolment_options(_pending_enrolments(actor).where(Enrolment.run_id == run.id, Enrolment.id > after)
                               .order_by(Enrolment.id).limit(limit))
    return list(db.session.scalars(query).unique())


def pending_for_intake(intake: Intake, *, actor: Person | None = None, after: int = 0,
                       limit: int | None = None) -> list[Apprenticeship]:
    """Completed apprenticeships of ``intake`` with no current certificate, in id order from ``after``."""
    query = _apprenticeship_options(
        _pending_apprenticeships(actor).where(Apprenticeship.intake_id == intake.id, Apprenticeship.id > after)
        .order_by(Apprenticeship.id).limit(limit))
    return list(db.session.scalars(query).unique())


def _count(query: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def issued_for_run_query(run: CourseRun, *, actor: Person | None = None) -> Select:
    """Current certificates (valid or revoked) of the enrolments on ``run``, in holder-name order."""
    query = (
        select(Certificate)
        .join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .join(Person, Person.id == Enrolment.person_id)
        .where(Enrolment.run_id == run.id, Certificate.current_key.is_not(None))
        .order_by(Certificate.holder_name, Certificate.id)
    )
    scope = _run_scope(actor)
    return query if scope is None else query.where(scope)


def issued_for_intake_query(intake: Intake, *, actor: Person | None = None) -> Select:
    """Current certificates (valid or revoked) of the apprenticeships of ``intake``, in holder-name order."""
    query = (
        select(Certificate)
        .join(Apprenticeship, Apprenticeship.id == Certificate.apprenticeship_id)
        .where(Apprenticeship.intake_id == intake.id, Certificate.current_key.is_not(None))
        .order_by(Certificate.holder_name, Certificate.id)
    )
    scope = _intake_scope(actor)
    return query if scope is None else query.where(scope)


def issued_for_run(run: CourseRun, *, actor: Person | None = None) -> list[Certificate]:
    return list(db.session.scalars(issued_for_run_query(run, actor=actor)))


def issued_for_intake(intake: Intake, *, actor: Person | None = None) -> list[Certificate]:
    return list(db.session.scalars(issued_for_intake_query(intake, actor=actor)))


def progress_for_run(run: CourseRun, *, actor: Person | None = None) -> Progress:
    pending = _pending_enrolments(actor).where(Enrolment.run_id == run.id)
    return Progress(issued=_count(issued_for_run_query(run, actor=actor)), pending=_count(pending))


def progress_for_intake(intake: Intake, *, actor: Person | None = None) -> Progress:
    pending = _pending_apprenticeships(actor).where(Apprenticeship.intake_id == intake.id)
    return Progress(issued=_count(issued_for_intake_query(intake, actor=actor)), pending=_count(pending))


# Rendering in worker processes ---------------------------------------------------------------------------

_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_pool_owner = 0
_pool_lock = threading.Lock()


# Imported once by the fork server, so each worker starts with them loaded.
WORKER_PRELOAD = ["weasyprint", "qrcode", "app.pdf", "app.services.certificate_batches"]


def _render_in_worker(draft) -> bytes:
    return certificate_service.render_draft(draft)


def _warm_worker() -> None:
    """Runs as each worker starts: the stylesheet, fonts and text layout are made ready before the first
    certificate arrives. A failure here is left for the first certificate to report."""
    from app import pdf

    with contextlib.suppress(Exception):  # the first real render will say what is wrong
        pdf.html_to_pdf("<html><head><title>Pathways</title></head><body><p>Pathways</p></body></html>")


def render_pool(processes: int) -> ProcessPoolExecutor:
    """The worker processes, started once per process and kept for later batches. Workers are started
    fresh ("forkserver", or "spawn" where that is missing), never forked from a process holding database
    connections."""
    global _pool, _pool_size, _pool_owner
    with _pool_lock:
        if _pool is not None and (_pool_size != processes or _pool_owner != os.getpid()):
            if _pool_owner == os.getpid():
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(WORKER_PRELOAD)
            else:
                context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_warm_worker)
            _pool_size, _pool_owner = processes, os.getpid()
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None and _pool_owner == os.getpid():
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


def _discard_broken_pool(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is broken:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None


# Issuing ---------------------------------------------------------------------------------------------------


def achievement_key(item) -> str:
    if isinstance(item, Enrolment):
        return f"enrolment:{item.id}"
    if isinstance(item, Apprenticeship):
        return f"apprenticeship:{item.id}"
    return item.achievement_key


def _prepare(item):
    if isinstance(item, Enrolment):
        return certificate_service.prepare_for_enrolment(item)
    if isinstance(item, Apprenticeship):
        return certificate_service.prepare_for_apprenticeship(item)
    return item  # already a draft


def _error_text(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return " ".join(message.split())[:500]


def issue_batch(drafts_source: Iterable, *, actor: Person | None, limit: int | None = None, processes: int = 1,
                on_progress: Callable[[BatchResult], None] | None = None) -> BatchResult:
    """Issue certificates for the achievements of ``drafts_source`` (enrolments, apprenticeships or prepared
    drafts), at most ``limit`` of them, rendering in ``processes`` worker processes (1: here). Committed every
    ``COMMIT_EVERY`` certificates and at the end. ``on_progress`` is called after each certificate."""
    result = BatchResult()
    pool = render_pool(processes) if processes > 1 else None
    waiting: deque[tuple[object, Future | None]] = deque()
    window = max(1, processes * QUEUE_PER_WORKER)
    since_commit = 0

    def store_next() -> None:
        nonlocal since_commit, pool
        draft, future = waiting.popleft()
        key = draft.achievement_key
        try:
            if future is None:
                pdf = certificate_service.render_draft(draft)
            else:
                try:
                    pdf = future.result()
                except BrokenProcessPool:
                    # A worker died (killed, out of memory): start afresh and render this one here.
                    log.warning("certificate workers stopped; rendering %s in this process", key)
                    _discard_broken_pool(pool)
                    pool = None
                    pdf = certificate_service.render_draft(draft)
            # ``store`` works inside a SAVEPOINT of its own: a failed insert leaves the batch's transaction intact.
            certificate_service.store(draft, pdf, actor=actor)
        except Exception as error:  # noqa: BLE001 - one certificate's failure must not stop the others
            log.exception("certificate for %s could not be issued", key)
            result.failed.append((key, _error_text(error)))
        else:
            result.issued += 1
            since_commit += 1
            if since_commit >= COMMIT_EVERY:
                db.session.commit()
                since_commit = 0
        if on_progress is not None:
            on_progress(result)

    for item in drafts_source:
        if limit is not None and result.issued + len(waiting) + len(result.failed) >= limit:
            break
        key = achievement_key(item)
        try:
            draft = _prepare(item)
        except Exception as error:  # noqa: BLE001
            log.exception("certificate for %s could not be prepared", key)
            result.failed.append((key, _error_text(error)))
            continue
        if draft is None:
            result.already += 1
            continue
        waiting.append((draft, pool.submit(_render_in_worker, draft) if pool is not None else None))
        while len(waiting) >= window or (pool is None and waiting):
            store_next()
    while waiting:
        store_next()
    db.session.commit()
    return result


def holder_name(item) -> str:
    if isinstance(item, Enrolment):
        return item.person.name
    if isinstance(item, Apprenticeship):
        return item.apprentice.name
    return item.holder_name


def _chunk(items: list, result: BatchResult, more_after: Callable[[int], bool]) -> Chunk:
    after = items[-1].id if items else 0
    return Chunk(result=result, after=after, more=bool(items) and more_after(after),
                 labels={achievement_key(item): holder_name(item) for item in items})


def issue_chunk_for_run(run: CourseRun, *, actor: Person | None, after: int = 0, size: int | None = None,
                        processes: int = 1) -> Chunk:
    """Issue the next ``size`` (``CHUNK``) pending certificates of ``run`` after the enrolment id ``after``."""
    items = [e for e in pending_for_run(run, actor=actor, after=after, limit=size or CHUNK)
             if may_act_on_enrolment(actor, e)]
    result = issue_batch(items, actor=actor, processes=processes)
    _record(actor, run, f"{run.course.title}: {run.name}", result)
    return _chunk(items, result, lambda last: bool(pending_for_run(run, actor=actor, after=last, limit=1)))


def issue_chunk_for_intake(intake: Intake, *, actor: Person | None, after: int = 0, size: int | None = None,
                           processes: int = 1) -> Chunk:
    """Issue the next ``size`` (``CHUNK``) pending certificates of ``intake`` after the apprenticeship id
    ``after``."""
    items = [a for a in pending_for_intake(intake, actor=actor, after=after, limit=size or CHUNK)
             if may_act_on_apprenticeship(actor, a)]
    result = issue_batch(items, actor=actor, processes=processes)
    _record(actor, intake, f"the intake {intake.name}", result)
    return _chunk(items, result, lambda last: bool(pending_for_intake(intake, actor=actor, after=last, limit=1)))


def _record(actor: Person | None, subject, name: str, result: BatchResult) -> None:
    if result.issued or result.failed:
        audit.record(actor, "certificates.batch_issued", subject,
                     f"Issued {result.issued} {'certificate' if result.issued == 1 else 'certificates'} for {name}"
                     + (f"; {len(result.failed)} could not be issued" if result.failed else ""),
                     issued=result.issued, failed=[key for key, _ in result.failed])
        db.session.commit()


def _in_pages(query_for_page: Callable[[int], list], id_of: Callable[[object], int], size: int = 200):
    """Every row of a query in id order, ``size`` at a time, so a whole cohort is never loaded at once."""
    after = 0
    while True:
        rows = query_for_page(after)
        yield from rows
        if len(rows) < size:
            return
        after = id_of(rows[-1])


def issue_for_run(run: CourseRun, *, actor: Person | None, processes: int = 1,
                  on_progress: Callable[[BatchResult], None] | None = None) -> BatchResult:
    """Issue every pending certificate of ``run`` that ``actor`` acts on."""
    items = (e for e in _in_pages(lambda after: pending_for_run(run, actor=actor, after=after, limit=200),
                                  lambda e: e.id) if may_act_on_enrolment(actor, e))
    result = issue_batch(items, actor=actor, processes=processes, on_progress=on_progress)
    _record(actor, run, f"{run.course.title}: {run.name}", result)
    return result


def issue_for_intake(intake: Intake, *, actor: Person | None, processes: int = 1,
                     on_progress: Callable[[BatchResult], None] | None = None) -> BatchResult:
    items = (a for a in _in_pages(lambda after: pending_for_intake(intake, actor=actor, after=after, limit=200),
                                  lambda a: a.id) if may_act_on_apprenticeship(actor, a))
    result = issue_batch(items, actor=actor, processes=processes, on_progress=on_progress)
    _record(actor, intake, f"the intake {intake.name}", result)
    return result


def runs_with_pending() -> list[CourseRun]:
    """Every run with a completed enrolment still waiting for its certificate."""
    return list(db.session.scalars(
        select(CourseRun).where(CourseRun.id.in_(_pending_enrolments(None).with_only_columns(Enrolment.run_id)))
        .options(joinedload(CourseRun.course)).order_by(CourseRun.id)))


def intakes_with_pending() -> list[Intake]:
    """Every intake with a completed apprenticeship still waiting for its certificate."""
    return list(db.session.scalars(
        select(Intake).where(Intake.id.in_(_pending_apprenticeships(None).with_only_columns(Apprenticeship.intake_id)))
        .order_by(Intake.id)))


def pending_without_intake() -> list[Apprenticeship]:
    """Completed apprenticeships in no intake still waiting for their certificate."""
    return list(db.session.scalars(_apprenticeship_options(
        _pending_apprenticeships(None).where(Apprenticeship.intake_id.is_(None)).order_by(Apprenticeship.id))).unique())


@dataclass(frozen=True)
class WaitingCohort:
    """A course run or an intake with certificates still waiting (``kind`` "run" or "intake"), or (``kind``
    "intake", ``id`` None) the completed apprenticeships in no intake."""

    kind: str
    id: int | None
    name: str
    waiting: int


def waiting_by_cohort(actor: Person | None) -> list[WaitingCohort]:
    """Every run and intake with a completion still waiting for its certificate, of the people ``actor`` acts on,
    with how many: what their certificate pages would issue. Most waiting first; one statement."""
    runs = (_pending_enrolments(actor)
            .with_only_columns(literal("run").label("kind"), CourseRun.id.label("id"),
                               (Course.title + ", " + CourseRun.name).label("name"), func.count().label("waiting"))
            .group_by(CourseRun.id, Course.title, CourseRun.name))
    intakes = (_pending_apprenticeships(actor).outerjoin(Intake, Intake.id == Apprenticeship.intake_id)
               .with_only_columns(literal("intake").label("kind"), Intake.id.label("id"),
                                  func.coalesce(Intake.name, "").label("name"), func.count().label("waiting"))
               .group_by(Intake.id, Intake.name))
    both = union_all(runs, intakes).subquery()
    rows = db.session.execute(select(both).order_by(both.c.waiting.desc(), both.c.kind, both.c.name))
    return [WaitingCohort(kind, cohort_id, name, int(waiting)) for kind, cohort_id, name, waiting in rows]


# A cohort's certificates as a ZIP ------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w .,'()-]+")


def file_name(certificate: Certificate) -> str:
    """``<number> <holder name>.pdf`` with nothing a file system or an unzip tool could trip on."""
    text = unicodedata.normalize("NFC", f"{certificate.number} {certificate.holder_name}")
    text = " ".join(_UNSAFE.sub("_", text).split()).strip(" .")
    return (text[:150] or certificate.number) + ".pdf"


def _manifest_cell(value: str) -> str:
    # A spreadsheet runs text that starts with =, +, - or @ as a formula.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _zip(query: Select, viewer: Person) -> tempfile.SpooledTemporaryFile:
    """The stored PDFs of the certificates of ``query`` that ``viewer`` may download, and a manifest."""
    spool = tempfile.SpooledTemporaryFile(max_size=ZIP_IN_MEMORY_BYTES)  # noqa: SIM115 - returned open
    manifest = io.StringIO()
    writer = csv.writer(manifest, lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    found = list(db.session.scalars(query.options(joinedload(Certificate.holder))))
    # The apprenticeships behind the certificates, with their placements, loaded at once for the download checks.
    records = [c.apprenticeship_id for c in found if c.apprenticeship_id is not None]
    loaded = list(db.session.scalars(select(Apprenticeship).where(Apprenticeship.id.in_(records))
                                     .options(selectinload(Apprenticeship.placements)))) if records else []
    ids = [c.id for c in found if certificate_service.can_download(viewer, c)]
    del loaded
    with zipfile.ZipFile(spool, "w") as archive:
        for start in range(0, len(ids), 50):
            rows = db.session.execute(
                select(Certificate, CertificateFile.pdf, CertificateFile.sha256)
                .join(CertificateFile, CertificateFile.certificate_id == Certificate.id)
                .where(Certificate.id.in_(ids[start:start + 50]))
                .order_by(Certificate.holder_name, Certificate.id)).all()
            for certificate, pdf, sha256 in rows:
                name = file_name(certificate)
                archive.writestr(zipfile.ZipInfo(name, date_time=certificate.issued_at.timetuple()[:6]), pdf,
                                 compress_type=zipfile.ZIP_STORED)
                writer.writerow([_manifest_cell(v) for v in (
                    certificate.number, certificate.holder_name, certificate.achievement,
                    certificate.completed_on.isoformat(), certificate.status.label, sha256, name)])
        archive.writestr("manifest.csv", manifest.getvalue().encode("utf-8"), compress_type=zipfile.ZIP_DEFLATED)
    spool.seek(0)
    return spool


def zip_for_run(run: CourseRun, viewer: Person) -> tempfile.SpooledTemporaryFile:
    return _zip(issued_for_run_query(run, actor=viewer), viewer)


def zip_for_intake(intake: Intake, viewer: Person) -> tempfile.SpooledTemporaryFile:
    return _zip(issued_for_intake_query(intake, actor=viewer), viewer)


def catch_up(*, actor: Person | None = None, processes: int = 1,
             echo: Callable[[str], None] | None = None) -> BatchResult:
    """Issue every pending certificate: of every course run, every intake, and apprenticeships in no intake.
    Safe to repeat (the scheduler calls it too); ``echo`` is told each cohort's outcome."""
    total = BatchResult()
    for run in runs_with_pending():
        result = issue_for_run(run, actor=actor, processes=processes)
        total.add(result)
        if echo:
            echo(f"{run.course.title}: {run.name}: {result.summary()}")
    for intake in intakes_with_pending():
        result = issue_for_intake(intake, actor=actor, processes=processes)
        total.add(result)
        if echo:
            echo(f"Intake {intake.name}: {result.summary()}")
    loose = pending_without_intake()
    if loose:
        result = issue_batch(loose, actor=actor, processes=processes)
        total.add(result)
        if echo:
            echo(f"Apprenticeships in no intake: {result.summary()}")
    return total
