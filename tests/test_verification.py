"""Checking a certificate in public: by code (typed or from the QR code) and by PDF file. Every outcome has a
page of the same shape; only what a checker needs is shown; look-ups are limited per client address."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, func, select, update

from app.extensions import db
from app.models import (
    Certificate,
    CertificateFile,
    CertificateKind,
    CertificateStatus,
    EnrolmentStatus,
    Role,
    VerificationAttempt,
)
from app.models.types import utcnow
from app.services import verification
from app.services.verification import State
from tests.conftest import csrf_token, make_person, post_form
from tests.course_factories import enrol, make_learner, make_learning_course, make_run
from tests.pages import field_error, html_of, page_title, text_of

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
HOLDER_EMAIL = "priya.patel@example.org"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(16))


def fake_pdf(label: str) -> bytes:
    return b"%PDF-1.7\n% Pathways certificate " + label.encode() + b"\n" + secrets.token_bytes(64) + b"\n%%EOF\n"


def make_certificate(holder=None, *, status=CertificateStatus.VALID, number="PW-2026-000123", version=1,
                     key="enrolment:1", holder_name="Priya Patel", achievement="Leading digital change",
                     completed_on=date(2026, 3, 2), issued_at=datetime(2026, 3, 3, 9, 30, tzinfo=UTC),
                     pdf: bytes | None = None, **fields) -> Certificate:
    """A certificate as issued, with its stored file: rows written directly, PDF bytes made up."""
    if holder is None:
        holder = make_person(HOLDER_EMAIL, name=holder_name)
    certificate = Certificate(
        number=number, version=version, kind=CertificateKind.COURSE, achievement_key=key,
        current_key=key if status is not CertificateStatus.SUPERSEDED else None, verification_code=new_code(),
        holder_id=holder.id, holder_name=holder_name, achievement=achievement, completed_on=completed_on,
        details={"cpd_hours": 6}, status=status, issued_at=issued_at, **fields,
    )
    db.session.add(certificate)
    db.session.flush()
    pdf = pdf if pdf is not None else fake_pdf(f"{number} v{version}")
    db.session.add(CertificateFile(certificate_id=certificate.id, sha256=hashlib.sha256(pdf).hexdigest(),
                                   size=len(pdf), pdf=pdf))
    db.session.commit()
    return certificate


def revoked(holder=None, **fields) -> Certificate:
    return make_certificate(holder, status=CertificateStatus.REVOKED,
                            revoked_at=datetime(2026, 4, 14, 23, 30, tzinfo=UTC),  # 15 April in London
                            revocation_reason="Issued in error: the course was not completed.", **fields)


def reissued(*, current_status=CertificateStatus.VALID) -> tuple[Certificate, Certificate]:
    """A certificate replaced by a second version with a corrected name."""
    old = make_certificate(holder_name="Priya Patell", status=CertificateStatus.SUPERSEDED)
    holder = old.holder
    fields = {}
    if current_status is CertificateStatus.REVOKED:
        fields = {"revoked_at": utcnow(), "revocation_reason": "Issued in error."}
    new = make_certificate(holder, version=2, holder_name="Priya Patel", status=current_status,
                           issued_at=datetime(2026, 5, 1, 10, tzinfo=UTC), **fields)
    old.superseded_by_id = new.id
    old.superseded_at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    db.session.commit()
    return old, new


def grouped(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, 16, 4))


def check(client, code: str, **kwargs):
    return client.get(f"/verify/{code}", **kwargs)


def outcome(response) -> str:
    match = re.search(r'<(p|span) [^>]*id="outcome">(.*?)</\1>', html_of(response), re.S)
    return " ".join(match.group(2).split()) if match else ""


def summary(response) -> dict[str, str]:
    """The certificate summary list as key → value text."""
    html = html_of(response)
    block = re.search(r'<dl class="govuk-summary-list"[^>]*id="certificate".*?</dl>', html, re.S).group(0)
    rows = re.findall(r'<dt class="govuk-summary-list__key">(.*?)</dt>\s*<dd class="govuk-summary-list__value">'
                      r'(.*?)</dd>', block, re.S)
    return {" ".join(re.sub(r"<[^>]+>", " ", k).split()): " ".join(re.sub(r"<[^>]+>", " ", v).split())
            for k, v in rows}


def shape(response) -> list[str]:
    """The page's structure: its headings, landmarks and components, without their words."""
    parts = r'<h1[^>]*>|class="govuk-notification-banner(?=[ "])|id="certificate"|<h2 class="govuk-heading-m">'
    return re.findall(parts, html_of(response))


def upload(client, content: bytes, name: str = "certificate.pdf", **kwargs):
    token = csrf_token(client, "/verify/check-a-pdf")
    return client.post("/verify/check-a-pdf", data={"csrf_token": token, "file": (io.BytesIO(content), name)},
                       content_type="multipart/form-data", **kwargs)


# Codes --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [
    "7KQM-4TZP-H9CX-R2WN",
    "7kqm-4tzp-h9cx-r2wn",
    "7KQM4TZPH9CXR2WN",
    "7kqm 4tzp h9cx r2wn",
    "  7KQM – 4TZP — H9CX - R2WN ",
    "7KQM\u00a04TZP\u00a0H9CX\u00a0R2WN",
    "７ＫＱＭ-４ＴＺＰ-Ｈ９ＣＸ-Ｒ２ＷＮ",  # full-width, as some phones type
])
def test_a_code_is_read_whatever_its_case_spacing_and_dashes(typed):
    assert verification.normalise_code(typed) == "7KQM4TZPH9CXR2WN"


@pytest.mark.parametrize("typed", [None, "", "   ", "7KQM-4TZP-H9CX", "7KQM-4TZP-H9CX-R2WN-A", "7KQM-4TZP-H9CX-R2W0",
                                   "OKQM-4TZP-H9CX-R2WN", "1KQM-4TZP-H9CX-R2WN", "IKQM-4TZP-H9CX-R2WN",
                                   "LKQM-4TZP-H9CX-R2WN", "7KQM/4TZP/H9CX/R2WN", "7KQM-4TZP-H9CX-R2W%"])
def test_text_that_cannot_be_a_code_is_not_one(typed):
    assert verification.normalise_code(typed) is None


def test_a_code_is_shown_in_four_groups_of_four():
    assert verification.display_code("7KQM4TZPH9CXR2WN") == "7KQM-4TZP-H9CX-R2WN"


# Each outcome -------------------------------------------------------------------------------------------


def test_a_valid_certificate_shows_only_what_a_checker_needs(client):
    certificate = make_certificate()
    response = check(client, grouped(certificate.verification_code))

    assert response.status_code == 200
    assert page_title(response) == "Certificate check – Pathways"
    assert "Certificate check" in text_of(response)
    assert outcome(response) == "This is a valid Pathways certificate"
    assert summary(response) == {
        "Verification code": grouped(certificate.verification_code),
        "Status": "Valid",
        "Name": "Priya Patel",
        "Achievement": "Leading digital change",
        "Completed on": "2 March 2026",
        "Certificate number": "PW-2026-000123",
        "Issued on": "3 March 2026",
    }
    html = html_of(response)
    assert HOLDER_EMAIL not in html and "@" not in text_of(response)
    assert "London Borough of Hackney" not in html  # the holder's organisation
    assert f"/people/{certificate.holder_id}" not in html
    assert "cpd_hours" not in html


def test_verification_pages_are_never_cached_or_indexed(client):
    certificate = make_certificate()
    for response in (client.get("/verify"), client.get("/verify/check-a-pdf"),
                     check(client, certificate.verification_code), check(client, new_code())):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Robots-Tag"] == "noindex"


def test_the_code_is_found_however_it_is_written_in_the_address(client):
    certificate = make_certificate()
    code = certificate.verification_code
    for written in (code, code.lower(), grouped(code).lower(), grouped(code).replace("-", " ")):
        response = check(client, written)
        assert outcome(response) == "This is a valid Pathways certificate", written
        assert summary(response)["Verification code"] == grouped(code)


def test_a_revoked_certificate_says_when_and_why(client):
    certificate = revoked()
    response = check(client, grouped(certificate.verification_code))

    assert response.status_code == 200
    assert outcome(response) == "This certificate is not valid: it was revoked on 15 April 2026"
    assert "Issued in error: the course was not completed." in text_of(response)
    rows = summary(response)
    assert rows["Status"] == "Revoked"
    assert rows["Revoked on"] == "15 April 2026"
    assert rows["Reason for revoking"] == "Issued in error: the course was not completed."
    assert rows["Name"] == "Priya Patel"
    assert HOLDER_EMAIL not in html_of(response)


def test_a_revoked_certificate_is_shown_as_a_warning_not_as_neutral_news(client):
    """Someone checking a revoked certificate sees GOV.UK's warning text saying it is not valid, not the blue
    banner every other outcome uses."""
    certificate = revoked()
    html = html_of(check(client, grouped(certificate.verification_code)))

    warning = re.search(r'<div class="govuk-warning-text"[^>]*>(.*?)</div>', html, re.S)
    assert warning, "the outcome is not a warning"
    assert 'class="govuk-warning-text__icon" aria-hidden="true"' in warning.group(1)
    words = " ".join(re.sub(r"<[^>]+>", " ", warning.group(1)).split())
    assert words == "! Warning This certificate is not valid: it was revoked on 15 April 2026"
    assert "govuk-notification-banner" not in html
    assert "This is a valid Pathways certificate" not in html


def test_a_replaced_certificate_points_to_the_current_version(client):
    old, new = reissued()
    response = check(client, grouped(old.verification_code))

    assert response.status_code == 200
    assert outcome(response) == "This certificate has been replaced"
    rows = summary(response)
    assert rows["Status"] == "Replaced"
    assert rows["Name"] == "Priya Patell"  # as that version said
    assert rows["Replaced on"] == "1 May 2026"
    assert rows["Current version"] == f"{grouped(new.verification_code)} (valid)"
    assert f'href="/verify/{grouped(new.verification_code)}"' in html_of(response)

    current = check(client, grouped(new.verification_code))
    assert outcome(current) == "This is a valid Pathways certificate"
    assert summary(current)["Name"] == "Priya Patel"


def test_a_replaced_certificate_whose_current_version_was_revoked_says_so(client):
    old, new = reissued(current_status=CertificateStatus.REVOKED)
    response = check(client, grouped(old.verification_code))
    assert summary(response)["Current version"] == f"{grouped(new.verification_code)} (revoked)"
    assert "The version that replaced it has since been revoked. Check the current version" in text_of(response)
    finding = verification.look_up(old.verification_code)
    assert (finding.state, finding.current_code, finding.current_state) == (
        State.SUPERSEDED, grouped(new.verification_code), State.REVOKED)


def test_an_unknown_code_gets_a_page_of_the_same_shape_and_status(client):
    certificate = make_certificate()
    found = check(client, grouped(certificate.verification_code))
    code = new_code()
    unknown = check(client, grouped(code))

    assert unknown.status_code == found.status_code == 200
    assert page_title(unknown) == page_title(found)
    assert shape(unknown) == shape(found)
    assert outcome(unknown) == "There is no certificate with this code"
    assert summary(unknown) == {"Verification code": grouped(code), "Status": "Not found"}


def test_a_code_one_character_away_from_a_real_one_gets_the_same_answer_as_any_other(client):
    """No hint that a similar code exists: the page for a near miss is the page for a random code."""
    code = make_certificate().verification_code
    near = code[:-1] + ("2" if code[-1] != "2" else "3")
    far = new_code()

    def words(response, typed):
        return text_of(response).replace(grouped(typed), "CODE")

    assert words(check(client, near), near) == words(check(client, far), far)


def test_text_that_is_not_a_code_gets_the_same_page_shape(client):
    make_certificate()
    response = check(client, "not-a-code")
    assert response.status_code == 200
    assert outcome(response) == "There is no certificate with this code"
    assert summary(response) == {"Verification code": "Not a Pathways verification code", "Status": "Not found"}
    assert shape(response) == shape(check(client, new_code()))
    assert "not-a-code" not in text_of(response)  # what is in the address is not echoed onto the page


def test_finding_and_not_finding_a_code_cost_the_same_single_query(app):
    code = make_certificate().verification_code
    statements = []

    def note(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        db.session.expire_all()
        found = verification.look_up(code)
        found_queries, statements[:] = len(statements), []
        db.session.expire_all()
        missing = verification.look_up(new_code())
        missing_queries = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert found.state is State.VALID and missing.state is State.UNKNOWN
    assert found_queries == missing_queries == 1, statements


# The form -----------------------------------------------------------------------------------------------


def test_the_form_asks_for_a_code(client):
    response = client.get("/verify")
    assert response.status_code == 200
    assert "Verification code" in text_of(response)
    assert "next to its QR code" in text_of(response)
    assert 'href="/verify/check-a-pdf"' in html_of(response)

    response = post_form(client, "/verify", {"code": "  "})
    assert response.status_code == 200
    assert field_error(response, "code") == "Enter the verification code"
    assert page_title(response).startswith("Error: ")

    response = post_form(client, "/verify", {"code": "7KQM-4TZP-H9CX"})
    assert field_error(response, "code") == "Enter a code in the format XXXX-XXXX-XXXX-XXXX"
    assert 'value="7KQM-4TZP-H9CX"' in html_of(response)


def test_a_code_typed_any_way_leads_to_its_check_page(client):
    certificate = make_certificate()
    typed = " ".join(grouped(certificate.verification_code).lower().split("-"))
    response = post_form(client, "/verify", {"code": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/verify/{grouped(certificate.verification_code)}"
    assert outcome(client.get(response.headers["Location"])) == "This is a valid Pathways certificate"


def test_the_form_itself_is_not_a_look_up(client):
    for _ in range(3):
        post_form(client, "/verify", {"code": new_code()})
    assert db.session.scalar(select(func.count(VerificationAttempt.id))) == 0


# Rate limiting ------------------------------------------------------------------------------------------


def attempts(found: bool | None = None) -> int:
    query = select(func.count(VerificationAttempt.id))
    if found is not None:
        query = query.where(VerificationAttempt.found.is_(found))
    return db.session.scalar(query)


def test_every_look_up_is_recorded_found_or_not(client):
    certificate = make_certificate()
    check(client, certificate.verification_code)
    check(client, new_code())
    check(client, "nonsense")
    upload(client, certificate.file.pdf)
    upload(client, fake_pdf("someone else's"))
    assert (attempts(found=True), attempts(found=False)) == (2, 3)
    addresses = set(db.session.scalars(select(VerificationAttempt.client_address)))
    assert addresses == {"127.0.0.1"}


def test_too_many_look_ups_are_refused_until_the_window_has_passed(client, app):
    limit = app.config["VERIFY_RATE_LIMIT"]
    window = app.config["VERIFY_RATE_WINDOW_MINUTES"]
    assert (limit, window) == (30, 10)
    certificate = make_certificate()
    for _ in range(limit):
        assert check(client, new_code()).status_code == 200

    refused = check(client, certificate.verification_code)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= window * 60
    assert refused.headers["Cache-Control"] == "no-store"
    text = text_of(refused)
    assert "You have checked 30 certificates in the last 10 minutes" in text
    assert "Wait 10 minutes, then try again." in text
    assert grouped(certificate.verification_code) not in text and "Priya" not in text
    assert upload(client, certificate.file.pdf).status_code == 429  # a file check is a look-up too
    assert attempts() == limit  # refused requests are not counted, so waiting is enough

    # Another client is not held back.
    other = check(client, certificate.verification_code, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert outcome(other) == "This is a valid Pathways certificate"

    # Time passes: the first look-ups leave the window.
    for attempt in db.session.scalars(select(VerificationAttempt)):
        attempt.at -= timedelta(minutes=window)
    db.session.commit()
    assert outcome(check(client, certificate.verification_code)) == "This is a valid Pathways certificate"


def test_the_wait_counts_from_the_oldest_look_up_in_the_window(client, app):
    for _ in range(app.config["VERIFY_RATE_LIMIT"]):
        check(client, new_code())
    db.session.execute(update(VerificationAttempt).values(at=utcnow() - timedelta(minutes=7, seconds=30)))
    db.session.commit()
    refused = check(client, new_code())
    assert refused.status_code == 429
    assert 140 <= int(refused.headers["Retry-After"]) <= 151
    assert "Wait 3 minutes, then try again." in text_of(refused)


def test_the_limit_counts_the_client_behind_trusted_proxies(database_url):
    """With PROXY_COUNT set, the address is the one the proxy saw, as for sign-in throttling."""
    from app import create_app
    from tests.conftest import TEST_SETTINGS

    proxied = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, PROXY_COUNT=1, **TEST_SETTINGS)
    client = proxied.test_client()
    for _ in range(2):
        client.get(f"/verify/{new_code()}", headers={"X-Forwarded-For": "198.51.100.23"})
    client.get(f"/verify/{new_code()}", headers={"X-Forwarded-For": "198.51.100.24"})
    with proxied.app_context():
        counted = dict(db.session.execute(
            select(VerificationAttempt.client_address, func.count()).group_by(VerificationAttempt.client_address)
        ).all())
        db.session.remove()
        db.engine.dispose()
    assert counted == {"198.51.100.23": 2, "198.51.100.24": 1}


def test_old_look_ups_can_be_purged():
    db.session.add_all([VerificationAttempt(client_address="a", at=utcnow() - timedelta(days=31)),
                        VerificationAttempt(client_address="a", at=utcnow() - timedelta(days=1))])
    db.session.commit()
    assert verification.purge_old_attempts() == 1
    assert attempts() == 1


# Checking a file ----------------------------------------------------------------------------------------


def test_the_exact_file_pathways_issued_is_recognised(client):
    certificate = make_certificate()
    response = upload(client, certificate.file.pdf, name="Priya certificate.pdf")

    assert response.status_code == 200
    assert page_title(response) == "Certificate check – Pathways"
    assert outcome(response) == "This is a valid Pathways certificate"
    assert "The file is, bit for bit, the certificate Pathways issued." in text_of(response)
    rows = summary(response)
    assert rows["File checked"] == "Priya certificate.pdf"
    assert rows["Verification code"] == grouped(certificate.verification_code)
    assert rows["Certificate number"] == "PW-2026-000123"
    assert HOLDER_EMAIL not in html_of(response)


def test_a_file_changed_by_one_byte_is_not_a_certificate_pathways_issued(client):
    certificate = make_certificate()
    changed = bytearray(certificate.file.pdf)
    changed[len(changed) // 2] ^= 0x01
    response = upload(client, bytes(changed))

    assert response.status_code == 200
    assert outcome(response) == "This file is not a certificate Pathways issued"
    assert summary(response) == {"File checked": "certificate.pdf", "Status": "Not found"}
    assert verification.check_pdf(bytes(changed)).state is State.UNKNOWN
    assert verification.check_pdf(certificate.file.pdf + b"\n").state is State.UNKNOWN
    assert shape(response) == shape(upload(client, certificate.file.pdf))


def test_a_revoked_or_replaced_file_says_so(client):
    gone = revoked(make_person("other@example.org", name="Other Person"), number="PW-2026-000124", key="enrolment:2")
    old, new = reissued()

    response = upload(client, gone.file.pdf)
    assert outcome(response) == "This certificate is not valid: it was revoked on 15 April 2026"
    assert "bit for bit, a certificate Pathways issued, but it is no longer valid" in text_of(response)

    response = upload(client, old.file.pdf)
    assert outcome(response) == "This certificate has been replaced"
    assert summary(response)["Current version"] == f"{grouped(new.verification_code)} (valid)"


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"PK\x03\x04 a zip file, not a PDF", "certificate.pdf", "The selected file must be a PDF"),
    (b"<html>%PDF-1.7</html>", "certificate.html", "The selected file must be a PDF"),
    (b"", "certificate.pdf", "The selected file is empty"),
])
def test_only_a_pdf_is_checked(client, content, name, message):
    response = upload(client, content, name=name)
    assert response.status_code == 200
    assert field_error(response, "file") == message
    assert "govuk-error-summary" in html_of(response)
    assert attempts() == 0


def test_a_file_must_be_chosen(client):
    response = post_form(client, "/verify/check-a-pdf", {})
    assert field_error(response, "file") == "Select a PDF file"


def test_a_file_over_the_upload_limit_is_refused_beside_the_field(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    response = upload(client, b"%PDF-1.7\n" + b"0" * (3 * 1024 * 1024))
    assert response.status_code == 413
    assert field_error(response, "file") == "The selected file must be smaller than 2 MB"
    assert response.headers["Cache-Control"] == "no-store"
    assert attempts() == 0


def test_anyone_can_check_signed_in_or_not(client):
    certificate = make_certificate()
    from tests.conftest import sign_in

    coordinator = make_person("cora@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,),
                              scope=("E09000012",))
    sign_in(client, coordinator)
    response = check(client, certificate.verification_code)
    assert outcome(response) == "This is a valid Pathways certificate"
    assert HOLDER_EMAIL not in html_of(response)


# Certificates as Pathways issues them -------------------------------------------------------------------


@pytest.fixture
def issued():
    """A certificate issued for a completed course, PDF and all."""
    from app.services import certificates

    learner = make_learner(name="Amara Okafor")
    enrolment = enrol(learner, make_run(make_learning_course("leading-digital-change")))
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.completed_at = utcnow()
    enrolment.cpd_hours_credited = Decimal("4")
    db.session.commit()
    certificate = certificates.issue_for_enrolment(enrolment)
    db.session.commit()
    return certificate


def test_codes_are_read_with_the_alphabet_certificates_are_issued_with():
    from app.services import certificates

    assert set(certificates.CODE_ALPHABET) == verification.ALPHABET
    assert certificates.CODE_LENGTH == verification.CODE_LENGTH
    for _ in range(50):
        code = certificates.new_code()
        assert verification.normalise_code(certificates.display_code(code).lower()) == code
        assert verification.display_code(code) == certificates.display_code(code)


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")), reason="poppler-utils and zbar-tools")
def test_the_qr_code_on_an_issued_certificate_leads_to_a_page_saying_it_is_valid(client, issued, tmp_path):
    from app.services import certificates

    (tmp_path / "certificate.pdf").write_bytes(certificates.stored_file(issued).pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(tmp_path / "certificate.pdf"),
                    str(tmp_path / "page")], check=True)
    scanned = subprocess.run(["zbarimg", "--quiet", "--raw", str(tmp_path / "page.png")], check=True,
                             capture_output=True, text=True).stdout.strip()
    address = urlsplit(scanned)
    assert f"{address.scheme}://{address.netloc}" == "http://pathways.test"

    response = client.get(address.path)
    assert outcome(response) == "This is a valid Pathways certificate"
    rows = summary(response)
    assert rows["Name"] == "Amara Okafor"
    assert rows["Certificate number"] == issued.number
    assert rows["Verification code"] == grouped(issued.verification_code)
    assert "Leading digital change" in rows["Achievement"]
    assert issued.holder.email not in html_of(response)


def test_an_issued_file_is_recognised_bit_for_bit(client, issued):
    from app.services import certificates

    content = certificates.stored_file(issued).pdf
    assert outcome(upload(client, content)) == "This is a valid Pathways certificate"
    changed = bytearray(content)
    changed[-20] = (changed[-20] + 1) % 256
    assert outcome(upload(client, bytes(changed))) == "This file is not a certificate Pathways issued"


def test_revoking_and_reissuing_show_on_the_check_pages(client, issued):
    from app.services import certificates

    first_code = issued.verification_code
    new = certificates.reissue(None, issued, "Name corrected")
    db.session.commit()
    new_code_ = new.verification_code
    response = check(client, first_code)
    assert outcome(response) == "This certificate has been replaced"
    assert summary(response)["Current version"] == f"{grouped(new_code_)} (valid)"

    certificates.revoke(None, new, "Awarded in error")
    db.session.commit()
    response = check(client, new_code_)
    assert outcome(response).startswith("This certificate is not valid: it was revoked on ")
    assert summary(response)["Reason for revoking"] == "Awarded in error"
    assert summary(check(client, first_code))["Current version"] == f"{grouped(new_code_)} (revoked)"
