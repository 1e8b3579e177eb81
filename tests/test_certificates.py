"""Certificates: issued at completion (once, even when requests race), fixed once issued, reissued and
revoked honestly, and downloaded only by the holder and the coordinators responsible."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    ApprenticeshipStatus,
    AuditEvent,
    Certificate,
    CertificateFile,
    CertificateKind,
    CertificateStatus,
    Enrolment,
    EnrolmentStatus,
    Person,
    Role,
)
from app.services import ServiceError, apprenticeships, certificates, clock, learning, verification
from tests.apprenticeship_factories import make_coordinator, make_supervisor
from tests.certificate_factories import (
    HACKNEY,
    ISLINGTON,
    TOWER_HAMLETS,
    issue_apprenticeship_certificate,
    issue_course_certificate,
    make_completed_apprenticeship,
    make_completed_enrolment,
    pdf_text,
)
from tests.conftest import make_person, post_form, sign_in
from tests.course_factories import enrol, make_learner, make_learning_course, make_run
from tests.pages import field_error, html_of, page_title, text_of

NUMBER = re.compile(r"^PW-\d{4}-\d{6}$")


def count_of(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# Issuing ----------------------------------------------------------------------------------------------------


def test_a_completed_enrolment_gets_a_valid_certificate_with_its_bytes_and_hash():
    enrolment = make_completed_enrolment(run_name="Autumn 2026")
    certificate = issue_course_certificate(enrolment)

    assert NUMBER.match(certificate.number)
    assert certificate.number.startswith(f"PW-{clock.today().year}-")
    assert certificate.version == 1 and certificate.status is CertificateStatus.VALID
    assert certificate.kind is CertificateKind.COURSE
    assert certificate.current_key == certificate.achievement_key == f"enrolment:{enrolment.id}"
    assert certificate.holder_id == enrolment.person_id and certificate.enrolment_id == enrolment.id
    assert certificate.holder_name == enrolment.person.name
    assert certificate.achievement == f"Leadership course: {enrolment.run.course.title}"
    assert certificate.completed_on == clock.today() - timedelta(days=1)
    assert certificate.details["run_name"] == "Autumn 2026" and certificate.details["cpd_hours"] == "4"
    stored = certificates.stored_file(certificate)
    assert stored.pdf.startswith(b"%PDF-") and stored.size == len(stored.pdf)
    assert stored.sha256 == hashlib.sha256(stored.pdf).hexdigest()
    assert actions()[-1] == "certificate.issued"


def test_issuing_twice_returns_the_same_certificate():
    enrolment = make_completed_enrolment()
    first = issue_course_certificate(enrolment)
    again = issue_course_certificate(enrolment)
    assert again.id == first.id
    assert count_of(Certificate) == 1 and count_of(CertificateFile) == 1
    assert certificates.prepare_for_enrolment(enrolment) is None


def test_nothing_is_prepared_before_completion_or_for_a_course_without_certificates():
    course = make_learning_course("no-certificate")
    course.gives_certificate = False
    db.session.commit()
    without = make_completed_enrolment(course=course)
    assert certificates.prepare_for_enrolment(without) is None
    assert certificates.issue_for_enrolment(without) is None

    ongoing = enrol(make_learner(), make_run(make_learning_course("ongoing")))
    assert ongoing.status is EnrolmentStatus.ENROLLED
    assert certificates.prepare_for_enrolment(ongoing) is None

    active = make_completed_apprenticeship(status=ApprenticeshipStatus.END_POINT_ASSESSMENT)
    assert certificates.prepare_for_apprenticeship(active) is None
    assert count_of(Certificate) == 0


def test_numbers_are_unique_across_courses_and_apprenticeships_and_codes_are_unguessable():
    enrolment = make_completed_enrolment()
    apprenticeship = make_completed_apprenticeship()
    assert enrolment.id == apprenticeship.id == 1  # same ids, different certificates
    course_certificate = issue_course_certificate(enrolment)
    apprenticeship_certificate = issue_apprenticeship_certificate(apprenticeship)
    assert course_certificate.number != apprenticeship_certificate.number
    for certificate in (course_certificate, apprenticeship_certificate):
        code = certificate.verification_code
        assert len(code) == 16 and not set(code) & set("01OIL")
        shown = certificates.display_code(code)
        assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){3}", shown)
        # The public check reads the printed form back to the stored one.
        assert verification.normalise_code(shown.lower()) == code == certificates.normalise_code(shown)
        assert certificates.verify_url(code) == f"http://pathways.test/verify/{shown}"
    assert course_certificate.verification_code != apprenticeship_certificate.verification_code
    assert certificates.number_for(CertificateKind.COURSE, 123, 2026) == "PW-2026-000246"


def test_completing_a_course_through_the_lessons_and_check_issues_the_certificate_at_once(client):
    course = make_learning_course("leading-with-data", lessons=2, cpd_hours="3.5")
    learner = make_person("leader@example.org", name="Lee Leader", roles=(Role.LEARNER,))
    enrolment = enrol(learner, make_run(course, name="Summer 2026"))
    sign_in(client, learner)
    client.get(f"/learning/{enrolment.id}/lessons/lesson-1")
    client.get(f"/learning/{enrolment.id}/lessons/lesson-2")
    assert count_of(Certificate) == 0
    path = f"/learning/{enrolment.id}/checks/check"
    passed = post_form(client, path, {"submission": "s1", "q-declaration": "a", "q-practices": ["a", "b"]})
    assert "You passed" in text_of(passed)

    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment.id).status is EnrolmentStatus.COMPLETED
    certificate = certificates.current_for_enrolment(enrolment)
    assert certificate is not None and certificate.status is CertificateStatus.VALID
    text = pdf_text(certificates.stored_file(certificate).pdf)
    assert "Lee Leader" in text and "Leading with data" in text and "3.5" in text and "Summer 2026" in text

    home = client.get("/")
    assert "Your certificates" in text_of(home)
    assert f"/certificates/{certificate.id}.pdf" in html_of(home)
    download = client.get(f"/certificates/{certificate.id}.pdf")
    assert download.status_code == 200 and download.data == certificates.stored_file(certificate).pdf

    # Completing again (another lesson view) never makes a second certificate.
    client.get(f"/learning/{enrolment.id}/lessons/lesson-1")
    learning.evaluate_completion(db.session.get(Enrolment, enrolment.id))
    db.session.commit()
    assert count_of(Certificate) == 1


def test_a_course_without_certificates_completes_without_one():
    course = make_learning_course("no-certificate-course", lessons=1)
    course.gives_certificate = False
    db.session.commit()
    enrolment = enrol(make_learner(), make_run(course))
    learning.record_lesson_opened(enrolment, course.lessons[0])
    learning.submit_check(enrolment, course.checks[0], {"declaration": ["a"], "practices": ["a", "b"]}, "t1")
    db.session.commit()
    assert enrolment.status is EnrolmentStatus.COMPLETED
    assert count_of(Certificate) == 0


def test_completing_an_apprenticeship_issues_a_certificate_naming_the_placements_boroughs():
    coordinator = make_coordinator(scope=())
    apprenticeship = make_completed_apprenticeship(hosts=(HACKNEY, TOWER_HAMLETS, HACKNEY, ISLINGTON),
                                                   status=ApprenticeshipStatus.END_POINT_ASSESSMENT)
    apprenticeships.change_status(coordinator, apprenticeship, ApprenticeshipStatus.COMPLETED,
                                  effective_on=clock.today(), reason="Passed end-point assessment", grade="distinction")
    db.session.commit()

    certificate = certificates.current_for_apprenticeship(apprenticeship)
    assert certificate is not None and certificate.kind is CertificateKind.APPRENTICESHIP
    assert certificate.issued_by_id == coordinator.id and certificate.completed_on == clock.today()
    boroughs = ["London Borough of Hackney", "London Borough of Tower Hamlets", "London Borough of Islington"]
    assert certificate.details["boroughs"] == boroughs
    assert certificate.details["grade"] == "Distinction"
    text = pdf_text(certificates.stored_file(certificate).pdf)
    assert apprenticeship.apprentice.name in text and "Software developer, level 4" in text and "Distinction" in text
    assert ", ".join(boroughs) in text
    assert "apprenticeship.status_changed" in actions() and actions()[-1] == "certificate.issued"


# Racing ---------------------------------------------------------------------------------------------------


def _in_threads(app, work, count: int = 2) -> list:
    """Run ``work(index)`` in ``count`` threads at once, each with its own application context and so its
    own database session; returns what each returned (or raised)."""
    results: list = [None] * count

    def run(index):
        with app.app_context():
            try:
                results[index] = work(index)
            except Exception as error:  # noqa: BLE001 - reported to the test
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_requests_racing_to_issue_leave_one_current_certificate(app, monkeypatch):
    enrolment_id = make_completed_enrolment().id
    both_rendered = threading.Barrier(2, timeout=30)
    render = certificates.render_draft

    def render_then_wait(draft):
        content = render(draft)
        both_rendered.wait()  # both have found no certificate and rendered one: now both store
        return content

    monkeypatch.setattr(certificates, "render_draft", render_then_wait)

    def issue(_index):
        certificate = certificates.issue_for_enrolment(db.session.get(Enrolment, enrolment_id))
        db.session.commit()
        return certificate.id

    first, second = _in_threads(app, issue)
    assert isinstance(first, int) and first == second
    db.session.expire_all()
    assert count_of(Certificate) == 1 and count_of(CertificateFile) == 1
    assert actions().count("certificate.issued") == 1


def test_two_coordinators_racing_to_reissue_make_one_new_version(app):
    certificate_id = issue_course_certificate().id
    coordinator_ids = [make_coordinator(f"racer{n}@example.org", scope=()).id for n in range(2)]
    start = threading.Barrier(2, timeout=30)

    def reissue(index):
        actor = db.session.get(Person, coordinator_ids[index])
        certificate = db.session.get(Certificate, certificate_id)
        start.wait()
        new = certificates.reissue(actor, certificate, f"Correction {index}")
        db.session.commit()
        return new.id

    results = _in_threads(app, reissue)
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, ServiceError) for r in results) == 1, results
    db.session.expire_all()
    versions = db.session.scalars(select(Certificate).order_by(Certificate.version)).all()
    assert [(v.version, v.status) for v in versions] == [(1, CertificateStatus.SUPERSEDED),
                                                         (2, CertificateStatus.VALID)]
    assert versions[0].current_key is None and versions[1].current_key == versions[0].achievement_key


# Reissue and revoke ---------------------------------------------------------------------------------------


def test_reissue_makes_a_new_version_from_the_current_name_and_keeps_the_old_one():
    coordinator = make_coordinator()
    enrolment = make_completed_enrolment()
    old = issue_course_certificate(enrolment)
    old_bytes = certificates.stored_file(old).pdf
    enrolment.person.name = "Learner Corrected-Name"
    db.session.commit()

    new = certificates.reissue(coordinator, old, "  Name corrected at the holder's request ")
    db.session.commit()

    assert new.id != old.id and new.number == old.number and new.version == 2
    assert new.holder_name == "Learner Corrected-Name" and old.holder_name != new.holder_name
    assert new.reissue_reason == "Name corrected at the holder's request" and new.issued_by_id == coordinator.id
    assert new.verification_code != old.verification_code
    assert old.status is CertificateStatus.SUPERSEDED and old.superseded_by_id == new.id
    assert old.superseded_at == new.issued_at
    assert old.current_key is None and new.current_key == old.achievement_key
    assert certificates.current_of(old).id == new.id and certificates.current_of(new).id == new.id
    assert [v.version for v in certificates.versions_of(old)] == [1, 2]
    assert certificates.certificates_of(enrolment.person) == [new]
    # The old version's file is kept as it was; the new one says the new name.
    assert certificates.stored_file(old).pdf == old_bytes
    assert "Learner Corrected-Name" in pdf_text(certificates.stored_file(new).pdf)
    assert f"{new.number} (version 2)" in pdf_text(certificates.stored_file(new).pdf)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "certificate.reissued"))
    assert event.actor_id == coordinator.id and event.details["reason"] == "Name corrected at the holder's request"


def test_reissue_and_revoke_need_a_reason_and_a_current_valid_version():
    coordinator = make_coordinator()
    old = issue_course_certificate()
    for change in (certificates.reissue, certificates.revoke):
        with pytest.raises(ServiceError) as refused:
            change(coordinator, old, "   ")
        assert refused.value.field == "reason" and refused.value.message.startswith("Enter why")
    new = certificates.reissue(coordinator, old, "Name corrected")
    db.session.commit()
    with pytest.raises(ServiceError, match="replaced by version 2"):
        certificates.revoke(coordinator, old, "Wrong version")
    certificates.revoke(coordinator, new, "Completed by someone else")
    db.session.commit()
    with pytest.raises(ServiceError, match="stays revoked"):
        certificates.reissue(coordinator, new, "Try again")
    with pytest.raises(ServiceError, match="stays revoked"):
        certificates.revoke(coordinator, new, "Again")


def test_revoke_records_when_who_and_why_and_deletes_nothing():
    coordinator = make_coordinator()
    certificate = issue_course_certificate()
    content = certificates.stored_file(certificate).pdf
    certificates.revoke(coordinator, certificate, "Completed under someone else's account")
    db.session.commit()
    db.session.expire_all()

    certificate = db.session.get(Certificate, certificate.id)
    assert certificate.status is CertificateStatus.REVOKED
    assert certificate.revoked_at is not None and certificate.revoked_by_id == coordinator.id
    assert certificate.revocation_reason == "Completed under someone else's account"
    assert certificate.current_key == certificate.achievement_key  # still the achievement's certificate
    assert count_of(Certificate) == 1 and certificates.stored_file(certificate).pdf == content
    assert actions()[-1] == "certificate.revoked"
    # Completing again issues no fresh certificate over a revoked one.
    assert certificates.issue_for_enrolment(db.session.get(Enrolment, certificate.enrolment_id)).id == certificate.id


def test_only_the_coordinators_responsible_may_change_a_certificate():
    holder_coordinator = make_person("self@example.org", roles=(Role.COORDINATOR, Role.LEARNER), scope=(HACKNEY,))
    own = issue_course_certificate(make_completed_enrolment(holder_coordinator))
    other_borough = make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON)
    certificate = issue_course_certificate()
    with pytest.raises(ServiceError, match="only the coordinators responsible"):
        certificates.revoke(other_borough, certificate, "Not mine")
    with pytest.raises(ServiceError, match="only the coordinators responsible"):
        certificates.reissue(holder_coordinator, own, "My own")
    assert certificates.may_change(holder_coordinator, certificate)
    assert not certificates.may_change(holder_coordinator, own)


# Downloading and pages ------------------------------------------------------------------------------------


def test_the_holder_downloads_the_stored_bytes_with_the_number_as_file_name(client):
    enrolment = make_completed_enrolment()
    certificate = issue_course_certificate(enrolment)
    stored = certificates.stored_file(certificate)
    sign_in(client, enrolment.person)
    response = client.get(f"/certificates/{certificate.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{certificate.number}.pdf"'
    assert response.headers["ETag"] == f'"{stored.sha256}"'
    assert response.data == stored.pdf
    again = client.get(f"/certificates/{certificate.id}.pdf", headers={"If-None-Match": f'"{stored.sha256}"'})
    assert again.status_code == 304 and again.data == b""


def test_course_certificates_download_for_the_holder_and_their_organisations_coordinators_only(new_client):
    enrolment = make_completed_enrolment(organisation_code=HACKNEY)
    certificate = issue_course_certificate(enrolment)
    other_learner = make_learner()
    cases = [
        (enrolment.person, 200),
        (make_coordinator("hackney@example.org", scope=(HACKNEY,)), 200),
        (make_coordinator("everywhere@example.org", scope=()), 200),
        (make_person("admin@example.org", roles=(Role.ADMIN,), organisation_code="LC"), 200),
        (make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON), 404),
        (make_supervisor("supervisor@example.org"), 404),
        (other_learner, 404),
    ]
    for person, expected in cases:
        for path in (f"/certificates/{certificate.id}.pdf", f"/certificates/{certificate.id}"):
            client = new_client()
            sign_in(client, person)
            assert client.get(path).status_code == expected, (person.email, path)
    assert new_client().get(f"/certificates/{certificate.id}.pdf").status_code == 302  # to sign in
    client = new_client()
    sign_in(client, enrolment.person)
    assert client.get("/certificates/999999.pdf").status_code == 404


def test_apprenticeship_certificates_download_for_the_coordinators_of_the_record_only(new_client):
    supervisor = make_supervisor("placement-supervisor@example.org", organisation_code=TOWER_HAMLETS)
    apprenticeship = make_completed_apprenticeship(hosts=(HACKNEY, TOWER_HAMLETS), employer_code=HACKNEY,
                                                   supervisors=(make_supervisor("first@example.org"), supervisor))
    certificate = issue_apprenticeship_certificate(apprenticeship)
    cases = [
        (apprenticeship.apprentice, 200),
        (make_coordinator("host@example.org", scope=(TOWER_HAMLETS,), organisation_code=TOWER_HAMLETS), 200),
        (make_coordinator("employer@example.org", scope=(HACKNEY,)), 200),
        (make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON), 404),
        (supervisor, 404),
        (make_completed_apprenticeship().apprentice, 404),
    ]
    for person, expected in cases:
        client = new_client()
        sign_in(client, person)
        assert client.get(f"/certificates/{certificate.id}.pdf").status_code == expected, person.email


def test_the_holder_sees_details_but_no_changes_and_coordinators_reissue_through_the_form(new_client):
    enrolment = make_completed_enrolment()
    certificate = issue_course_certificate(enrolment)
    holder = new_client()
    sign_in(holder, enrolment.person)
    page = holder.get(f"/certificates/{certificate.id}")
    assert page.status_code == 200 and page_title(page) == f"Certificate {certificate.number} – Pathways"
    text = text_of(page)
    assert "Valid" in text and enrolment.person.name in text and certificates.display_code(
        certificate.verification_code) in text
    assert "Reissue" not in text and "Revoke" not in text
    assert holder.get(f"/certificates/{certificate.id}/reissue").status_code == 403

    coordinator = new_client()
    sign_in(coordinator, make_coordinator())
    page = coordinator.get(f"/certificates/{certificate.id}")
    assert f"/certificates/{certificate.id}/reissue" in html_of(page)
    path = f"/certificates/{certificate.id}/reissue"
    empty = post_form(coordinator, path, {"reason": "  "})
    assert empty.status_code == 200
    assert field_error(empty, "reason") == "Enter why the certificate is being reissued, for example 'name corrected'"
    assert page_title(empty).startswith("Error: ") and "There is a problem" in text_of(empty)

    done = post_form(coordinator, path, {"reason": "Name corrected"})
    assert done.status_code == 302
    db.session.expire_all()
    new = certificates.current_of(db.session.get(Certificate, certificate.id))
    assert new.version == 2 and done.headers["Location"].endswith(f"/certificates/{new.id}")
    page = coordinator.get(done.headers["Location"])
    text = text_of(page)
    assert "has been reissued as version 2" in text and "Versions of certificate" in text
    assert "Name corrected" in text and "Replaced" in text
    old_page = text_of(coordinator.get(f"/certificates/{certificate.id}"))
    assert "This version was replaced on" in old_page and "See the current version (version 2)" in old_page
    # The old version cannot be changed any more.
    assert "cannot be changed" in text_of(coordinator.get(path))
    refused = post_form(coordinator, path, {"reason": "Again"}, token_from=f"/certificates/{new.id}/reissue")
    assert "This version has been replaced by version 2" in text_of(refused)
    assert certificates.current_of(db.session.get(Certificate, certificate.id)).version == 2


def test_a_coordinator_revokes_through_the_form_and_the_holder_is_told(new_client):
    enrolment = make_completed_enrolment()
    certificate = issue_course_certificate(enrolment)
    coordinator = new_client()
    sign_in(coordinator, make_coordinator())
    path = f"/certificates/{certificate.id}/revoke"
    empty = post_form(coordinator, path, {"reason": ""})
    assert field_error(empty, "reason") == "Enter why the certificate is being revoked"
    done = post_form(coordinator, path, {"reason": "Completed under a shared account"})
    assert done.status_code == 302
    assert "has been revoked" in text_of(coordinator.get(done.headers["Location"]))

    holder = new_client()
    sign_in(holder, enrolment.person)
    home = html_of(holder.get("/"))
    assert "Revoked" in home and f"/certificates/{certificate.id}.pdf" not in home
    page = text_of(holder.get(f"/certificates/{certificate.id}"))
    assert "This certificate was revoked on" in page and "Completed under a shared account" in page
    assert "Download the PDF (revoked)" in page
    # Holders keep their file, labelled revoked everywhere it is offered.
    assert holder.get(f"/certificates/{certificate.id}.pdf").status_code == 200


def test_other_borough_coordinators_cannot_open_the_change_pages(new_client):
    certificate = issue_course_certificate()
    client = new_client()
    sign_in(client, make_coordinator("islington@example.org", scope=(ISLINGTON,), organisation_code=ISLINGTON))
    assert client.get(f"/certificates/{certificate.id}/reissue").status_code == 404
    assert client.get(f"/certificates/{certificate.id}/revoke").status_code == 404


def test_the_home_page_lists_only_the_persons_own_current_certificates(client):
    enrolment = make_completed_enrolment()
    mine = issue_course_certificate(enrolment)
    theirs = issue_course_certificate()
    sign_in(client, enrolment.person)
    html = html_of(client.get("/"))
    assert f"Download certificate {mine.number} (PDF)" in html
    assert theirs.number not in html


def test_no_certificates_no_section(client):
    sign_in(client, make_learner())
    assert "Your certificates" not in text_of(client.get("/"))
