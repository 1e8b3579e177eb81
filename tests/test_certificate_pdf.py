"""The certificate PDF: what it says (read back by poppler), its QR code (decoded by zbar), PDF/A-3b
metadata, embedded fonts, one A4 landscape page, rendering without an application, and bytes that never
change once issued, whatever happens to the templates later."""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import shutil
import subprocess
import zlib
from concurrent.futures import ProcessPoolExecutor

import pytest

from app import pdf
from app.services import certificates
from tests.certificate_factories import (
    HACKNEY,
    ISLINGTON,
    TOWER_HAMLETS,
    issue_apprenticeship_certificate,
    issue_course_certificate,
    make_completed_apprenticeship,
    make_completed_enrolment,
    pdf_text,
    qr_codes,
)
from tests.conftest import sign_in
from tests.course_factories import make_learner

pytestmark = pytest.mark.skipif(not all(shutil.which(tool) for tool in ("pdftotext", "pdftoppm", "zbarimg")),
                                reason="poppler-utils and zbar-tools read the PDFs back")


def pdf_info(content: bytes) -> dict[str, str]:
    result = subprocess.run(["pdfinfo", "-"], input=content, capture_output=True, check=True)
    return dict(line.split(":", 1) for line in result.stdout.decode().splitlines() if ":" in line)


def inflated(content: bytes) -> bytes:
    """Every compressed stream of a PDF, inflated (object streams hold the catalogue's entries)."""
    parts = []
    for match in re.finditer(rb"stream\r?\n", content):
        try:
            parts.append(zlib.decompressobj().decompress(content[match.end():]))
        except zlib.error:
            continue
    return b"\n".join(parts)


def test_a_course_certificate_says_who_what_when_and_its_number():
    enrolment = make_completed_enrolment(make_learner(name="Zoë O'Sullivan-Ngata"), run_name="Spring 2026",
                                         cpd_hours="3.5")
    certificate = issue_course_certificate(enrolment)
    text = pdf_text(certificates.stored_file(certificate).pdf)
    assert "Pathways — London's digital skills programme" in text
    assert "Certificate of completion" in text
    assert "Zoë O'Sullivan-Ngata" in text
    assert enrolment.run.course.title in text and "has completed the leadership course" in text
    assert "CPD hours 3.5" in text and "Run Spring 2026" in text
    assert f"Completed on {certificate.completed_on:%-d %B %Y}" in text
    assert certificate.number in text
    assert certificates.display_code(certificate.verification_code) in text
    assert certificates.verify_url(certificate.verification_code) in text
    assert "GOV.UK" not in text


def test_an_apprenticeship_certificate_names_the_standard_grade_and_placement_boroughs():
    apprenticeship = make_completed_apprenticeship(hosts=(TOWER_HAMLETS, HACKNEY, TOWER_HAMLETS, ISLINGTON),
                                                   grade="pass")
    certificate = issue_apprenticeship_certificate(apprenticeship)
    text = pdf_text(certificates.stored_file(certificate).pdf)
    standard = apprenticeship.standard_version.standard
    assert "Certificate of achievement" in text and apprenticeship.apprentice.name in text
    assert f"{standard.title}, level {standard.level}" in text
    assert f"{standard.reference} version {apprenticeship.standard_version.version}" in text
    assert "Grade Pass" in text
    assert ("London Borough of Tower Hamlets, London Borough of Hackney, London Borough of Islington") in text
    assert certificate.number in text


def test_the_qr_code_decodes_to_the_verification_address():
    certificate = issue_course_certificate()
    assert qr_codes(certificates.stored_file(certificate).pdf) == [
        certificates.verify_url(certificate.verification_code)]


def test_the_pdf_is_pdf_a_3b_with_metadata_embedded_fonts_and_one_a4_landscape_page():
    certificate = issue_course_certificate()
    content = certificates.stored_file(certificate).pdf
    # The XMP metadata stream is left uncompressed: the PDF/A identification and the title read as they are.
    assert b'pdfaid:part="3"' in content and b'pdfaid:conformance="B"' in content
    assert f"Pathways certificate {certificate.number}".encode() in content
    catalogue = inflated(content)
    assert b"/OutputIntents" in catalogue and b"/GTS_PDFA1" in catalogue and b"/DestOutputProfile" in catalogue
    info = pdf_info(content)
    assert info["Title"].strip() == f"Pathways certificate {certificate.number}"
    assert info["Author"].strip() == "Pathways"
    assert info["Subject"].strip() == f"{certificate.holder_name}: {certificate.achievement}"
    assert certificate.number in info["Keywords"]
    assert info["Pages"].strip() == "1"
    assert info["Page size"].split()[:3] == ["841.89", "x", "595.276"]  # A4 landscape, in points
    fonts = subprocess.run(["pdffonts", "-"], input=content, capture_output=True, check=True).stdout.decode()
    rows = fonts.splitlines()[2:]
    assert rows and all("DejaVu" in row for row in rows)
    assert all(row.split()[-5] == "yes" for row in rows), fonts  # every font embedded
    assert b"/Interpolate false" in content and b"/Interpolate true" not in content  # none in PDF/A


def test_a_very_long_name_and_course_title_still_fit_one_page():
    learner = make_learner(name="Bartholomew Alexander Fitzwilliam-Montgomery de la Cruz Oyelaran-Whitfield " * 2)
    enrolment = make_completed_enrolment(learner)
    enrolment.run.course.title = ("Leading digital, data and technology change across London's boroughs " * 2).strip()
    certificate = issue_course_certificate(enrolment)
    content = certificates.stored_file(certificate).pdf
    assert pdf_info(content)["Pages"].strip() == "1"
    assert qr_codes(content) == [certificates.verify_url(certificate.verification_code)]


def test_a_draft_renders_in_a_worker_process_without_the_application():
    certificate_draft = certificates.prepare_for_enrolment(make_completed_enrolment())
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        content = pool.submit(certificates.render_draft, certificate_draft).result(timeout=120)
    text = pdf_text(content)
    assert certificate_draft.holder_name in text and certificate_draft.number in text
    assert qr_codes(content) == [certificate_draft.verify_url]


def test_the_renderer_fetches_nothing_from_the_network():
    _css, _fonts, fetcher = pdf.resources()
    for address in ("http://example.org/logo.png", "https://example.org/font.woff2", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            fetcher.fetch(address)
    assert fetcher.fetch(pdf.qr_png_data_uri("x")) is not None


def test_one_stylesheet_and_font_configuration_serve_every_render():
    first = pdf.resources()
    issue_course_certificate()
    issue_course_certificate()
    assert pdf.resources() is first


def test_changing_a_template_after_issue_never_changes_the_downloaded_file(client, monkeypatch, tmp_path):
    enrolment = make_completed_enrolment()
    certificate = issue_course_certificate(enrolment)
    issued = certificates.stored_file(certificate)

    # A new template folder where the course certificate reads differently.
    changed = tmp_path / "certificates"
    shutil.copytree(pdf.CERTIFICATE_TEMPLATES_DIR, changed)
    course = changed / "course.html"
    course.write_text(course.read_text().replace("has completed the leadership course", "TEMPLATE CHANGED"))
    monkeypatch.setattr(pdf, "CERTIFICATE_TEMPLATES_DIR", changed)
    monkeypatch.setattr(pdf, "_environment", None)
    fresh = certificates.render_draft(certificates._enrolment_draft(
        enrolment, number=certificate.number, version=1, issued_on=certificate.completed_on))
    assert "TEMPLATE CHANGED" in pdf_text(fresh)  # the change is in force...

    sign_in(client, enrolment.person)
    download = client.get(f"/certificates/{certificate.id}.pdf")
    assert download.status_code == 200
    assert hashlib.sha256(download.data).hexdigest() == issued.sha256  # ...and the issued file is untouched
    assert "TEMPLATE CHANGED" not in pdf_text(download.data)


def test_a_reissue_renders_from_the_template_in_force(monkeypatch, tmp_path):
    from tests.apprenticeship_factories import make_coordinator

    certificate = issue_course_certificate()
    changed = tmp_path / "certificates"
    shutil.copytree(pdf.CERTIFICATE_TEMPLATES_DIR, changed)
    course = changed / "course.html"
    course.write_text(course.read_text().replace("has completed the leadership course", "successfully completed"))
    monkeypatch.setattr(pdf, "CERTIFICATE_TEMPLATES_DIR", changed)
    monkeypatch.setattr(pdf, "_environment", None)
    new = certificates.reissue(make_coordinator(), certificate, "New wording")
    assert "successfully completed" in pdf_text(certificates.stored_file(new).pdf)
    assert "successfully completed" not in pdf_text(certificates.stored_file(certificate).pdf)


def test_placements_in_one_borough_are_named_once():
    apprenticeship = make_completed_apprenticeship(hosts=(HACKNEY, HACKNEY))
    assert certificates.boroughs_of(apprenticeship) == ["London Borough of Hackney"]
