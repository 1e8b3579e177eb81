"""Certificates for whole cohorts: what is waiting, issuing a run's or an intake's certificates a chunk at a
time (and again, issuing nothing), one failure not stopping the rest, the ZIP of a cohort's certificates,
coordinators limited to their organisations, and `flask certificates`."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    ApprenticeshipStatus,
    AuditEvent,
    Certificate,
    CertificateFile,
    CertificateStatus,
    Enrolment,
    EnrolmentStatus,
    Role,
)
from app.models.types import utcnow
from app.services import certificate_batches, certificates, clock
from tests.apprenticeship_factories import make_apprenticeship, make_intake, make_placement
from tests.conftest import csrf_token, make_person, sign_in
from tests.course_factories import enrol, make_learner, make_learning_course, make_run
from tests.pages import text_of

HACKNEY, CAMDEN = "E09000012", "E09000007"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def complete(enrolment: Enrolment) -> Enrolment:
    """Mark an enrolment completed straight in the table, as a completion recorded before certificates existed."""
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.completed_at = utcnow()
    enrolment.cpd_hours_credited = Decimal("4")
    db.session.commit()
    return enrolment


def completed_learners(run, how_many: int, *, organisation_code: str = HACKNEY) -> list[Enrolment]:
    return [complete(enrol(make_learner(organisation_code=organisation_code), run)) for _ in range(how_many)]


def complete_apprenticeship(apprenticeship):
    apprenticeship.status = ApprenticeshipStatus.COMPLETED
    apprenticeship.grade = "pass"
    apprenticeship.actual_end_on = clock.today() - timedelta(days=1)
    db.session.commit()
    return apprenticeship


def current_certificates() -> list[Certificate]:
    db.session.expire_all()
    return list(db.session.scalars(select(Certificate).where(Certificate.current_key.is_not(None))
                                   .order_by(Certificate.id)))


@pytest.fixture
def run():
    return make_run(make_learning_course())


@pytest.fixture
def coordinator():
    """A coordinator of Hackney only."""
    return make_person("cora@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,), scope=(HACKNEY,))


def post_issue(client, path: str, *, after: int = 0, json: bool = False):
    token = csrf_token(client, path)
    headers = {"Accept": "application/json"} if json else {}
    return client.post(f"{path}/issue", data={"csrf_token": token, "after": str(after)}, headers=headers)


def zip_entries(response) -> dict[str, bytes]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def manifest_rows(entries: dict[str, bytes]) -> list[dict]:
    return list(csv.DictReader(io.StringIO(entries["manifest.csv"].decode("utf-8"))))


# What is waiting and what is issued ------------------------------------------------------------------------


def test_a_run_counts_its_issued_and_waiting_certificates(run):
    done = completed_learners(run, 3)
    enrol(make_learner(), run)  # still learning: nothing to issue
    other_course = make_learning_course("no-certificate-course")
    other_course.gives_certificate = False
    db.session.commit()
    completed_learners(make_run(other_course), 1)
    certificates.issue_for_enrolment(done[0])
    db.session.commit()

    assert [e.id for e in certificate_batches.pending_for_run(run)] == [done[1].id, done[2].id]
    assert [c.enrolment_id for c in certificate_batches.issued_for_run(run)] == [done[0].id]
    progress = certificate_batches.progress_for_run(run)
    assert (progress.issued, progress.pending, progress.total) == (1, 2, 3)
    assert progress.describe() == "1 of 3 certificates issued"


def test_an_intake_counts_completed_apprenticeships_only():
    intake = make_intake()
    finished = [complete_apprenticeship(make_apprenticeship(intake=intake)) for _ in range(2)]
    make_apprenticeship(intake=intake)  # still active
    complete_apprenticeship(make_apprenticeship())  # in no intake

    assert [a.id for a in certificate_batches.pending_for_intake(intake)] == [a.id for a in finished]
    assert certificate_batches.issued_for_intake(intake) == []
    result = certificate_batches.issue_for_intake(intake, actor=None)
    assert (result.issued, result.already, result.failed) == (2, 0, [])
    assert certificate_batches.pending_for_intake(intake) == []
    assert sorted(c.apprenticeship_id for c in certificate_batches.issued_for_intake(intake)) == \
        sorted(a.id for a in finished)


# Issuing in bulk --------------------------------------------------------------------------------------------


def test_a_batch_issues_every_waiting_certificate_once(run):
    enrolments = completed_learners(run, 4)

    first = certificate_batches.issue_batch(certificate_batches.pending_for_run(run), actor=None)
    assert (first.issued, first.already, first.failed) == (4, 0, [])
    issued = current_certificates()
    assert sorted(c.enrolment_id for c in issued) == sorted(e.id for e in enrolments)
    assert len({c.number for c in issued}) == 4
    for certificate in issued:
        assert certificate.file.sha256 == hashlib.sha256(certificate.file.pdf).hexdigest()

    # Again, over the same achievements: nothing new.
    again = certificate_batches.issue_batch(enrolments, actor=None)
    assert (again.issued, again.already, again.failed) == (0, 4, [])
    assert certificate_batches.issue_for_run(run, actor=None).issued == 0
    assert count(Certificate) == 4


def test_a_batch_stops_at_its_limit(run):
    completed_learners(run, 3)
    result = certificate_batches.issue_batch(certificate_batches.pending_for_run(run), actor=None, limit=2)
    assert result.issued == 2
    assert certificate_batches.progress_for_run(run).pending == 1


def test_one_failing_certificate_is_reported_and_the_rest_are_issued(run, monkeypatch):
    enrolments = completed_learners(run, 3)
    broken = f"enrolment:{enrolments[1].id}"
    render = certificates.render_draft

    def render_or_fail(draft):
        if draft.achievement_key == broken:
            raise RuntimeError("the printer caught fire")
        return render(draft)

    monkeypatch.setattr(certificates, "render_draft", render_or_fail)
    result = certificate_batches.issue_batch(certificate_batches.pending_for_run(run), actor=None)

    assert result.issued == 2
    assert result.failed == [(broken, "the printer caught fire")]
    assert [e.id for e in certificate_batches.pending_for_run(run)] == [enrolments[1].id]
    # Once it renders again, the next batch issues it.
    monkeypatch.setattr(certificates, "render_draft", render)
    assert certificate_batches.issue_for_run(run, actor=None).issued == 1
    assert certificate_batches.pending_for_run(run) == []


def test_batches_are_committed_as_they_go(run, monkeypatch):
    completed_learners(run, 3)
    monkeypatch.setattr(certificate_batches, "COMMIT_EVERY", 1)
    commits = []
    original = db.session.commit
    monkeypatch.setattr(db.session, "commit", lambda: (commits.append(1), original())[1])
    certificate_batches.issue_batch(certificate_batches.pending_for_run(run), actor=None)
    assert len(commits) >= 3


def test_two_worker_processes_issue_the_same_certificates(run):
    enrolments = completed_learners(run, 3)
    result = certificate_batches.issue_batch(certificate_batches.pending_for_run(run), actor=None, processes=2)
    assert (result.issued, result.failed) == (3, [])
    issued = current_certificates()
    assert sorted(c.enrolment_id for c in issued) == sorted(e.id for e in enrolments)
    for certificate in issued:
        assert certificate.file.pdf.startswith(b"%PDF-")
        assert certificate.file.sha256 == hashlib.sha256(certificate.file.pdf).hexdigest()
    # The workers stay up for the next batch.
    pool = certificate_batches.render_pool(2)
    assert certificate_batches.render_pool(2) is pool
    certificate_batches.shutdown_pool()


# The pages -------------------------------------------------------------------------------------------------


def test_a_run_page_shows_counts_and_issues_a_chunk_at_a_time(client, signed_in_admin, run, monkeypatch):
    monkeypatch.setattr(certificate_batches, "CHUNK", 2)
    enrolments = completed_learners(run, 5)
    path = f"/runs/{run.id}/certificates"

    page = client.get(path)
    assert page.status_code == 200
    assert "0 issued 5 waiting to be issued" in text_of(page)
    assert "Issue 5 certificates" in text_of(page)

    response = post_issue(client, path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{path}?after={enrolments[1].id}")
    page = client.get(response.headers["Location"])
    assert "2 certificates issued. 2 of 5 certificates issued." in text_of(page)
    assert "Continue issuing certificates" in text_of(page)
    after = int(re.search(r'name="after"[^>]*value="(\d+)"', page.get_data(as_text=True)).group(1))

    response = post_issue(client, path, after=after)
    after = int(response.headers["Location"].rsplit("=", 1)[1])
    response = post_issue(client, path, after=after)
    assert response.headers["Location"].endswith(path)
    page = client.get(path)
    assert "1 certificate issued. 5 of 5 certificates issued." in text_of(page)
    assert 'id="issue-certificates"' not in page.get_data(as_text=True)  # nothing left to issue
    assert len(current_certificates()) == 5
    for certificate in current_certificates():
        assert f'href="/certificates/{certificate.id}"' in page.get_data(as_text=True)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "certificates.batch_issued")).first()
    assert event is not None and event.subject_id == run.id


def test_with_javascript_each_chunk_answers_with_progress(client, signed_in_admin, run, monkeypatch):
    monkeypatch.setattr(certificate_batches, "CHUNK", 2)
    completed_learners(run, 3)
    path = f"/runs/{run.id}/certificates"

    first = post_issue(client, path, json=True).get_json()
    assert (first["issued_now"], first["issued"], first["total"], first["more"]) == (2, 2, 3, True)
    assert first["status"] == "2 of 3 certificates issued"
    second = post_issue(client, path, after=first["after"], json=True).get_json()
    assert (second["issued_now"], second["issued"], second["pending"], second["more"]) == (1, 3, 0, False)
    # The page loads its script with the page's nonce and has a live status for the progress.
    html = client.get(path).get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", client.get(path).headers["Content-Security-Policy"])
    assert nonce and 'src="/static/certificate_batches.js"' in html
    assert 'aria-live="polite"' in html and "<progress" in html


def test_a_failure_is_named_on_the_page_and_the_next_chunk_moves_on(client, signed_in_admin, run, monkeypatch):
    monkeypatch.setattr(certificate_batches, "CHUNK", 2)
    enrolments = completed_learners(run, 3)
    render = certificates.render_draft
    broken = f"enrolment:{enrolments[0].id}"
    monkeypatch.setattr(certificates, "render_draft",
                        lambda d: (_ for _ in ()).throw(RuntimeError("no fonts")) if d.achievement_key == broken
                        else render(d))
    path = f"/runs/{run.id}/certificates"

    first = post_issue(client, path, json=True).get_json()
    assert first["failed"] == [{"holder": enrolments[0].person.name, "error": "no fonts"}]
    assert first["more"] is True
    second = post_issue(client, path, after=first["after"], json=True).get_json()
    assert (second["issued"], second["pending"], second["more"]) == (2, 1, False)

    response = post_issue(client, path)
    page = client.get(response.headers["Location"])
    assert f"The certificate for {enrolments[0].person.name} could not be issued: no fonts" in text_of(page)


def test_an_intake_page_issues_its_certificates(client, signed_in_admin):
    intake = make_intake()
    for _ in range(2):
        complete_apprenticeship(make_apprenticeship(intake=intake))
    path = f"/intakes/{intake.id}/certificates"
    assert "Issue 2 certificates" in text_of(client.get(path))
    response = post_issue(client, path)
    assert response.headers["Location"].endswith(path)
    page = client.get(path)
    assert "2 of 2 certificates issued" in text_of(page)
    assert len(certificate_batches.issued_for_intake(intake)) == 2


def test_the_run_and_intake_pages_link_to_their_certificates(client, signed_in_admin, run):
    intake = make_intake()
    assert f'href="/runs/{run.id}/certificates"' in client.get(f"/runs/{run.id}").get_data(as_text=True)
    assert f'href="/intakes/{intake.id}/certificates"' in client.get(f"/intakes/{intake.id}").get_data(as_text=True)


@pytest.mark.parametrize("roles", [(Role.LEARNER,), (Role.SUPERVISOR,), (Role.APPRENTICE,)])
def test_only_coordinators_and_admins_see_cohort_certificates(client, run, roles):
    person = make_person("someone@example.org", roles=roles)
    intake = make_intake()
    sign_in(client, person)
    for path in (f"/runs/{run.id}/certificates", f"/runs/{run.id}/certificates.zip",
                 f"/intakes/{intake.id}/certificates", f"/intakes/{intake.id}/certificates.zip"):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/")
    assert client.post(f"/runs/{run.id}/certificates/issue", data={"csrf_token": token}).status_code == 403


def test_unknown_cohorts_are_not_found(client, signed_in_admin):
    for path in ("/runs/999/certificates", "/runs/999/certificates.zip", "/intakes/999/certificates",
                 "/intakes/999/certificates.zip"):
        assert client.get(path).status_code == 404, path


def test_a_borough_coordinator_issues_only_for_people_of_their_organisations(client, coordinator, run):
    hackney = completed_learners(run, 2, organisation_code=HACKNEY)
    camden = completed_learners(run, 2, organisation_code=CAMDEN)
    sign_in(client, coordinator)
    path = f"/runs/{run.id}/certificates"
    page = client.get(path)
    assert "You see and issue the certificates of people from your organisations" in text_of(page)
    assert "0 issued 2 waiting to be issued" in text_of(page)

    post_issue(client, path)
    assert sorted(c.enrolment_id for c in current_certificates()) == sorted(e.id for e in hackney)
    assert [e.id for e in certificate_batches.pending_for_run(run)] == [e.id for e in camden]
    # Even a hand-made cursor reaches nobody else.
    post_issue(client, path, after=0)
    assert len(current_certificates()) == 2


def test_a_borough_coordinator_issues_only_for_apprentices_they_coordinate(client, coordinator):
    intake = make_intake()
    ours = complete_apprenticeship(make_apprenticeship(intake=intake, employer_code=CAMDEN))
    make_placement(ours, host_code=HACKNEY)  # employed elsewhere, placed in Hackney
    theirs = complete_apprenticeship(make_apprenticeship(intake=intake, employer_code=CAMDEN))
    sign_in(client, coordinator)
    path = f"/intakes/{intake.id}/certificates"
    assert "Issue 1 certificate" in text_of(client.get(path))
    post_issue(client, path)
    assert [c.apprenticeship_id for c in current_certificates()] == [ours.id]
    assert [a.id for a in certificate_batches.pending_for_intake(intake)] == [theirs.id]


# The ZIP ---------------------------------------------------------------------------------------------------


def test_the_zip_holds_the_stored_pdfs_and_a_manifest(client, signed_in_admin, run):
    enrolments = completed_learners(run, 3)
    enrolments[0].person.name = "Zoë O'Brien/Smith"
    db.session.commit()
    certificate_batches.issue_for_run(run, actor=None)
    revoked = certificates.revoke(signed_in_admin, current_certificates()[2], "Issued by mistake")
    db.session.commit()

    download = client.get(f"/runs/{run.id}/certificates.zip")
    assert download.headers["Cache-Control"] == "no-store"  # nobody's certificates stay in a shared cache
    entries = zip_entries(download)
    current = current_certificates()
    stored = {c.number: db.session.get(CertificateFile, c.id) for c in current
              if certificates.can_download(signed_in_admin, c)}
    assert len(entries) == len(stored) + 1
    rows = manifest_rows(entries)
    assert sorted(r["Number"] for r in rows) == sorted(stored)
    for row in rows:
        pdf = entries[row["File"]]
        assert pdf == stored[row["Number"]].pdf
        assert row["SHA-256"] == hashlib.sha256(pdf).hexdigest()
        assert row["File"].startswith(row["Number"] + " ") and row["File"].endswith(".pdf")
        assert "/" not in row["File"]
    # A revoked certificate is still the current one: it is in the ZIP, and the manifest says it is revoked.
    assert {r["Number"]: r["Status"] for r in rows}[revoked.number] == CertificateStatus.REVOKED.label
    zoe = next(r for r in rows if r["Holder"] == "Zoë O'Brien/Smith")
    assert zoe["File"] == f"{zoe['Number']} Zoë O'Brien_Smith.pdf"
    assert zoe["Achievement"] == f"Leadership course: {run.course.title}"
    assert zoe["Completed on"] == clock.today().isoformat()


def test_the_zip_has_only_the_current_version_of_a_reissued_certificate(client, signed_in_admin, run):
    [enrolment] = completed_learners(run, 1)
    first = certificates.issue_for_enrolment(enrolment)
    db.session.commit()
    second = certificates.reissue(signed_in_admin, first, "Name corrected")
    db.session.commit()
    entries = zip_entries(client.get(f"/runs/{run.id}/certificates.zip"))
    [row] = manifest_rows(entries)
    assert row["SHA-256"] == db.session.get(CertificateFile, second.id).sha256
    assert entries[row["File"]] == db.session.get(CertificateFile, second.id).pdf


def test_a_borough_coordinator_downloads_only_their_peoples_certificates(client, coordinator, run):
    hackney = completed_learners(run, 2, organisation_code=HACKNEY)
    completed_learners(run, 1, organisation_code=CAMDEN)
    certificate_batches.issue_for_run(run, actor=None)
    sign_in(client, coordinator)
    entries = zip_entries(client.get(f"/runs/{run.id}/certificates.zip"))
    names = sorted(r["Holder"] for r in manifest_rows(entries))
    assert names == sorted(e.person.name for e in hackney)
    assert len(entries) == 3


def test_an_intake_zip_for_a_borough_coordinator(client, coordinator):
    intake = make_intake()
    ours = complete_apprenticeship(make_apprenticeship(intake=intake, employer_code=HACKNEY))
    complete_apprenticeship(make_apprenticeship(intake=intake, employer_code=CAMDEN))
    certificate_batches.issue_for_intake(intake, actor=None)
    sign_in(client, coordinator)
    rows = manifest_rows(zip_entries(client.get(f"/intakes/{intake.id}/certificates.zip")))
    assert [r["Holder"] for r in rows] == [ours.apprentice.name]


def test_an_empty_cohort_gives_a_zip_with_only_the_manifest(client, signed_in_admin, run):
    entries = zip_entries(client.get(f"/runs/{run.id}/certificates.zip"))
    assert list(entries) == ["manifest.csv"]
    assert manifest_rows(entries) == []


# flask certificates ----------------------------------------------------------------------------------------


def test_the_cli_issues_a_runs_certificates_with_progress_and_a_summary(runner, run):
    completed_learners(run, 3)
    result = runner.invoke(args=["certificates", "issue", "--run", str(run.id)])
    assert result.exit_code == 0, result.output
    label = f"{run.course.title}: {run.name}"
    assert result.stdout.splitlines()[-1] == f"{label}: 3 issued, 0 already issued, 0 failed"
    assert f"  {label}: 3 of 3 issued" in result.stdout
    assert len(current_certificates()) == 3

    again = runner.invoke(args=["certificates", "issue", "--run", str(run.id)])
    assert again.exit_code == 0
    assert again.stdout == f"{label}: 0 issued, 0 already issued, 0 failed\n"


def test_the_cli_issues_an_intakes_certificates(runner):
    intake = make_intake(name="September 2025")
    complete_apprenticeship(make_apprenticeship(intake=intake))
    result = runner.invoke(args=["certificates", "issue", "--intake", str(intake.id)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "Intake September 2025: 1 issued, 0 already issued, 0 failed"


@pytest.mark.parametrize(("args", "message"), [
    ([], "give either --run ID or --intake ID"),
    (["--run", "1", "--intake", "1"], "give either --run ID or --intake ID"),
    (["--run", "999"], "there is no course run with the id 999"),
    (["--intake", "999"], "there is no intake with the id 999"),
])
def test_the_cli_refuses_unclear_requests(runner, args, message):
    result = runner.invoke(args=["certificates", "issue", *args])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"


def test_the_cli_reports_failures_and_exits_non_zero(runner, run, monkeypatch):
    enrolments = completed_learners(run, 2)
    render = certificates.render_draft
    broken = f"enrolment:{enrolments[0].id}"
    monkeypatch.setattr(certificates, "render_draft",
                        lambda d: (_ for _ in ()).throw(RuntimeError("no fonts")) if d.achievement_key == broken
                        else render(d))
    result = runner.invoke(args=["certificates", "issue", "--run", str(run.id)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1].endswith(": 1 issued, 0 already issued, 1 failed")
    assert result.stderr == f"Could not issue the certificate for {broken}: no fonts\n"


def test_catch_up_issues_everything_waiting_and_then_nothing(runner, run):
    completed_learners(run, 2)
    intake = make_intake(name="January 2026")
    complete_apprenticeship(make_apprenticeship(intake=intake))
    complete_apprenticeship(make_apprenticeship())  # in no intake

    result = runner.invoke(args=["certificates", "catch-up"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{run.course.title}: {run.name}: 2 issued, 0 already issued, 0 failed",
        "Intake January 2026: 1 issued, 0 already issued, 0 failed",
        "Apprenticeships in no intake: 1 issued, 0 already issued, 0 failed",
        "All cohorts: 4 issued, 0 already issued, 0 failed",
    ]
    again = runner.invoke(args=["certificates", "catch-up"])
    assert again.stdout == "All cohorts: 0 issued, 0 already issued, 0 failed\n"
