"""Checking a certificate in a real browser, as an employer would, without signing in: a code typed wrongly
first, then rightly; a revoked and an unknown code; a PDF file. The journey runs under the real content security
policy without console errors, and every verification page, in each state, is checked with axe-core."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import CertificateStatus, VerificationAttempt
from tests.browser.conftest import release_database
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person
from tests.test_verification import grouped, make_certificate, new_code, revoked

pytestmark = pytest.mark.browser


@dataclass
class World:
    valid_code: str
    valid_pdf: bytes
    revoked_code: str
    replaced_code: str


@pytest.fixture
def world() -> World:
    valid = make_certificate()
    gone = revoked(make_person("sam@example.org", name="Sam Stone"), holder_name="Sam Stone",
                   number="PW-2026-000124", key="enrolment:2")
    old = make_certificate(make_person("kofi@example.org", name="Kofi Mensah"), holder_name="Kofi Mensa",
                           number="PW-2026-000125", key="enrolment:3", status=CertificateStatus.SUPERSEDED)
    new = make_certificate(old.holder, holder_name="Kofi Mensah", number="PW-2026-000125", version=2,
                           key="enrolment:3")
    old.superseded_by_id = new.id
    db.session.commit()
    world = World(valid.verification_code, valid.file.pdf, gone.verification_code, old.verification_code)
    release_database()
    return world


def heading(page):
    return page.get_by_role("heading", level=1)


def result(page):
    return page.locator("#outcome")


def certificate(page):
    return page.locator("#certificate")


def test_an_employer_checks_codes_and_a_file(world, new_page):
    page = new_page()  # the real content security policy
    page.goto("/verify")
    expect(heading(page)).to_have_text("Check a Pathways certificate")

    # Nothing typed: the error is summarised and shown beside the field; the summary's link leads to it.
    page.get_by_role("button", name="Check the code").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(page.locator("#code-error")).to_contain_text("Enter the verification code")
    summary.get_by_role("link", name="Enter the verification code").click()
    expect(page.get_by_label("Verification code")).to_be_focused()

    # Too short.
    page.get_by_label("Verification code").fill(grouped(world.valid_code)[:14])
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator("#code-error")).to_contain_text("Enter a code in the format XXXX-XXXX-XXXX-XXXX")
    expect(page).to_have_title("Error: Check a Pathways certificate – Pathways")

    # Typed in lower case, in groups separated by spaces.
    page.get_by_label("Verification code").fill(" ".join(grouped(world.valid_code).lower().split("-")))
    page.get_by_role("button", name="Check the code").click()
    expect(page).to_have_url(f"/verify/{grouped(world.valid_code)}")
    expect(heading(page)).to_have_text("Certificate check")
    expect(result(page)).to_have_text("This is a valid Pathways certificate")
    expect(certificate(page)).to_contain_text("Priya Patel")
    expect(certificate(page)).to_contain_text("Leading digital change")
    expect(certificate(page)).to_contain_text("PW-2026-000123")
    expect(page.locator("main")).not_to_contain_text("@")

    page.goto(f"/verify/{grouped(world.revoked_code)}")
    expect(heading(page)).to_have_text("Certificate check")
    expect(result(page)).to_have_text("This certificate is not valid: it was revoked on 15 April 2026")
    expect(page.locator(".govuk-warning-text")).to_contain_text("This certificate is not valid")
    expect(page.locator("main")).to_contain_text("Issued in error: the course was not completed.")

    page.goto(f"/verify/{grouped(world.replaced_code)}")
    expect(result(page)).to_have_text("This certificate has been replaced")
    page.get_by_role("link", name="Check the current version").click()
    expect(result(page)).to_have_text("This is a valid Pathways certificate")
    expect(certificate(page)).to_contain_text("Kofi Mensah")

    page.goto(f"/verify/{grouped(new_code())}")
    expect(heading(page)).to_have_text("Certificate check")
    expect(result(page)).to_have_text("There is no certificate with this code")

    # The certificate's file, exactly as issued.
    page.get_by_role("link", name="Check a certificate file").click()
    expect(heading(page)).to_have_text("Check a certificate file")
    page.get_by_label("Certificate file").set_input_files(
        files=[{"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": world.valid_pdf}])
    page.get_by_role("button", name="Check the file").click()
    expect(result(page)).to_have_text("This is a valid Pathways certificate")
    expect(page.locator(".govuk-notification-banner")).to_contain_text(
        "The file is, bit for bit, the certificate Pathways issued.")

    assert page.problems.errors == []


def _pdf_with_error(page, world):
    page.goto("/verify/check-a-pdf")
    page.get_by_label("Certificate file").set_input_files(
        files=[{"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": b"not a pdf"}])
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#file-error")).to_contain_text("The selected file must be a PDF")


def _changed_pdf(page, world):
    page.goto("/verify/check-a-pdf")
    page.get_by_label("Certificate file").set_input_files(
        files=[{"name": "certificate.pdf", "mimeType": "application/pdf", "buffer": world.valid_pdf + b" "}])
    page.get_by_role("button", name="Check the file").click()
    expect(result(page)).to_have_text("This file is not a certificate Pathways issued")


def _code_with_error(page, world):
    page.goto("/verify")
    page.get_by_label("Verification code").fill("ABC")
    page.get_by_role("button", name="Check the code").click()
    expect(page.locator("#code-error")).to_be_visible()


def _too_many(page, world):
    db.session.add_all(VerificationAttempt(client_address="127.0.0.1") for _ in range(30))
    db.session.commit()
    release_database()
    response = page.goto(f"/verify/{grouped(world.valid_code)}")
    assert response.status == 429


PAGES = [
    ("start", lambda page, w: page.goto("/verify"), "Check a Pathways certificate"),
    ("start with an error", _code_with_error, "Check a Pathways certificate"),
    ("valid", lambda page, w: page.goto(f"/verify/{grouped(w.valid_code)}"), "Certificate check"),
    ("revoked", lambda page, w: page.goto(f"/verify/{grouped(w.revoked_code)}"), "Certificate check"),
    ("replaced", lambda page, w: page.goto(f"/verify/{grouped(w.replaced_code)}"), "Certificate check"),
    ("unknown", lambda page, w: page.goto(f"/verify/{grouped(new_code())}"), "Certificate check"),
    ("check a file", lambda page, w: page.goto("/verify/check-a-pdf"), "Check a certificate file"),
    ("check a file with an error", _pdf_with_error, "Check a certificate file"),
    ("a changed file", _changed_pdf, "Certificate check"),
    ("too many checks", _too_many, "Too many certificate checks"),
]


def test_verification_pages_have_no_serious_accessibility_problems(world, new_page):
    page = new_page(bypass_csp=True)  # axe is injected as a script of the test's own
    problems = []
    for name, open_page, expected in PAGES:
        open_page(page, world)
        expect(heading(page), f"the {name} page").to_have_text(expected)
        violations = axe_violations(page)
        if violations:
            problems.append(f"The {name} page ({page.url}):\n" + describe(violations))
    assert not problems, f"axe found serious or critical problems on {len(problems)} of {len(PAGES)} pages:\n\n" + (
        "\n\n".join(problems))
