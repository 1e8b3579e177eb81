"""Evidence files of off-the-job hours: checked by content and size, kept outside static/, never left
behind by a failed transaction, and served only to people who may see the apprenticeship record."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import EvidenceFile, OtjActivity
from app.services import ServiceError
from app.services import evidence as evidence_files
from app.services import off_the_job as otj
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import csrf_token, post_form, sign_in
from tests.pages import field_error, text_of
from tests.test_off_the_job import days_ago, log_form

ROOT = Path(__file__).resolve().parent.parent
TOWER_HAMLETS = "E09000030"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 20


def office_file(*parts: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in parts:
            archive.writestr(name, content)
    return buffer.getvalue()


DOCX = office_file(("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>"))
ODT = office_file(("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", b"<office/>"))


@pytest.fixture(autouse=True)
def evidence_dir(app, tmp_path):
    """Each test keeps its files in a folder of its own."""
    before = app.config["EVIDENCE_DIR"]
    app.config["EVIDENCE_DIR"] = str(tmp_path / "evidence")
    yield tmp_path / "evidence"
    app.config["EVIDENCE_DIR"] = before


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture
def record():
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    supervisor = make_supervisor()
    make_placement(apprenticeship, supervisor=supervisor)
    return apprenticeship, apprentice, supervisor


def log_with_file(client, apprenticeship, content: bytes, filename: str, **overrides):
    data = log_form(apprenticeship, **overrides)
    data["evidence"] = (io.BytesIO(content), filename)
    return post_form(client, f"/apprenticeships/{apprenticeship.id}/off-the-job/new", data,
                     token_from=f"/apprenticeships/{apprenticeship.id}/off-the-job/new")


def with_evidence(apprenticeship, content: bytes = PDF, filename: str = "notes.pdf") -> OtjActivity:
    activity = make_otj(apprenticeship, on=days_ago(2))
    evidence_files.store(activity, FileStorage(io.BytesIO(content), filename=filename))
    db.session.commit()
    return activity


def evidence_path(activity) -> str:
    return f"/apprenticeships/{activity.apprenticeship_id}/off-the-job/{activity.id}/evidence"


# Uploading ---------------------------------------------------------------------------------------


def test_an_apprentice_uploads_evidence_with_their_hours(client, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    sign_in(client, apprentice)

    response = log_with_file(client, apprenticeship, PDF, "../../static/My notes (week 3).pdf")

    assert response.status_code == 302
    evidence = db.session.scalar(select(EvidenceFile))
    assert evidence.filename == "My_notes_week_3.pdf"
    assert evidence.content_type == "application/pdf"
    assert (evidence.size, evidence.sha256) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    [stored] = stored_files(evidence_dir)
    assert stored.name == evidence.storage_key and stored.read_bytes() == PDF
    assert not stored.is_relative_to(ROOT / "static")
    assert not list((ROOT / "static").rglob(evidence.storage_key))
    page = text_of(client.get(f"/apprenticeships/{apprenticeship.id}/off-the-job"))
    assert "My_notes_week_3.pdf" in page


@pytest.mark.parametrize("content, filename, content_type", [
    (PNG, "screen.png", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "photo.jpeg", "image/jpeg"),
    ("Notes from the workshop: testing — with café.\n".encode(), "notes.txt", "text/plain"),
    (DOCX, "report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (office_file(("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<wb/>")), "sheet.xlsx",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (office_file(("[Content_Types].xml", b"<Types/>"), ("ppt/presentation.xml", b"<p/>")), "slides.pptx",
     "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    (ODT, "essay.odt", "application/vnd.oasis.opendocument.text"),
])
def test_allowed_types_are_recognised_by_content(app_context, content, filename, content_type):
    _, kind, name = evidence_files.check_upload(FileStorage(io.BytesIO(content), filename=filename))
    assert (kind.content_type, name) == (content_type, filename)


def test_a_file_without_an_extension_gets_the_one_of_its_type(app_context):
    _, kind, name = evidence_files.check_upload(FileStorage(io.BytesIO(PDF), filename="certificate"))
    assert (kind.content_type, name) == ("application/pdf", "certificate.pdf")


def test_a_file_over_the_size_limit_is_refused_beside_the_field(app, client, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    assert app.config["MAX_CONTENT_LENGTH"] > app.config["EVIDENCE_MAX_BYTES"] == 10 * 1024 * 1024
    sign_in(client, apprentice)

    response = log_with_file(client, apprenticeship, PDF + b"0" * (10 * 1024 * 1024), "big.pdf")

    assert response.status_code == 400
    assert field_error(response, "evidence") == "The selected file must be smaller than 10 MB"
    assert db.session.scalar(select(func.count()).select_from(OtjActivity)) == 0
    assert stored_files(evidence_dir) == []


def send_as_a_browser_does(client, apprenticeship, content: bytes, **overrides):
    """The log form with a file, its parts in the form's order as a browser sends them: the CSRF token, what the
    person typed, then the file and the button."""
    path = f"/apprenticeships/{apprenticeship.id}/off-the-job/new"
    data = {"csrf_token": csrf_token(client, path), **log_form(apprenticeship, **overrides),
            "evidence": (io.BytesIO(content), "recording.pdf"), "submit": "Log hours"}
    return client.post(path, data=data, content_type="multipart/form-data")


def test_a_file_too_large_to_read_brings_back_the_form_with_what_was_typed(app, client, record, evidence_dir):
    """Over the request limit the body is not read, but the fields typed ahead of the file are: the form comes
    back filled in, with the error beside the file field, rather than a page of its own."""
    apprenticeship, apprentice, _ = record
    sign_in(client, apprentice)
    ksbs = apprenticeship.standard_version.ksbs[1:3]
    day = days_ago(3)

    response = send_as_a_browser_does(
        client, apprenticeship, PDF + b"0" * app.config["MAX_CONTENT_LENGTH"], on=day, hours="3", minutes="15",
        activity_type="shadowing", description="Shadowed the release of the parking permits service", ksbs=ksbs)

    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "<h1 class=\"govuk-heading-l\">Log off-the-job hours</h1>" in html
    assert field_error(response, "evidence") == "The selected file must be smaller than 10 MB"
    assert 'href="#evidence">The selected file must be smaller than 10 MB</a>' in html  # in the error summary
    for part, value in (("day", day.day), ("month", day.month), ("year", day.year)):
        assert re.search(rf'<input [^>]*id="occurred_on-{part}" [^>]*value="{value}"', html), part
    assert re.search(r'<input [^>]*id="hours" [^>]*value="3"', html)
    assert re.search(r'<input [^>]*id="minutes" [^>]*value="15"', html)
    assert re.search(r'<input [^>]*value="shadowing" checked', html)
    assert "Shadowed the release of the parking permits service</textarea>" in html
    checked = set(re.findall(r'name="ksb_ids" type="checkbox" value="(\d+)" checked', html))
    assert checked == {str(k.id) for k in ksbs}
    assert db.session.scalar(select(func.count()).select_from(OtjActivity)) == 0
    assert stored_files(evidence_dir) == []


def test_sent_again_with_a_smaller_file_the_hours_are_logged(app, client, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    sign_in(client, apprentice)
    send_as_a_browser_does(client, apprenticeship, PDF + b"0" * app.config["MAX_CONTENT_LENGTH"])

    response = send_as_a_browser_does(client, apprenticeship, PDF)

    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == 1


def test_a_too_large_request_from_someone_who_may_not_log_the_hours_gets_the_plain_page(app, client, record):
    apprenticeship, _, _ = record
    sign_in(client, make_apprentice("other@example.org", name="Olu Other"))
    path = f"/apprenticeships/{apprenticeship.id}/off-the-job/new"
    data = {**log_form(apprenticeship), "evidence": (io.BytesIO(PDF + b"0" * app.config["MAX_CONTENT_LENGTH"]),
                                                      "recording.pdf")}

    response = client.post(path, data=data, content_type="multipart/form-data")

    assert response.status_code == 413
    assert "The file is too large" in text_of(response)
    assert "Workshop on unit testing" not in text_of(response)
    assert "Log off-the-job hours" not in text_of(response)


@pytest.mark.parametrize("content, filename, message", [
    (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "notes.pdf",
     "The file must be a PDF, PNG or JPEG image, plain text file, or Word, Excel, PowerPoint or OpenDocument "
     "text document"),
    (b"  <svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "picture.txt",
     "The file must be a PDF, PNG or JPEG image, plain text file, or Word, Excel, PowerPoint or OpenDocument "
     "text document"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "tool.exe",
     "The file must be a PDF, PNG or JPEG image, plain text file, or Word, Excel, PowerPoint or OpenDocument "
     "text document"),
    (office_file(("payload.js", b"alert(1)")), "archive.docx",
     "The file must be a PDF, PNG or JPEG image, plain text file, or Word, Excel, PowerPoint or OpenDocument "
     "text document"),
    (PNG, "certificate.pdf", "The file's name ends .pdf but it is a PNG image: rename it to end .png, or upload "
                             "the right file"),
    (b"", "empty.txt", "The selected file is empty"),
])
def test_a_file_of_the_wrong_type_is_refused(client, record, evidence_dir, content, filename, message):
    apprenticeship, apprentice, _ = record
    sign_in(client, apprentice)

    response = log_with_file(client, apprenticeship, content, filename)

    assert response.status_code == 400
    assert field_error(response, "evidence") == message
    assert db.session.scalar(select(func.count()).select_from(OtjActivity)) == 0
    assert stored_files(evidence_dir) == []


def test_the_upload_hint_states_the_limits(client, record):
    apprenticeship, apprentice, _ = record
    sign_in(client, apprentice)
    page = text_of(client.get(f"/apprenticeships/{apprenticeship.id}/off-the-job/new"))
    assert ("Upload a PDF, PNG or JPEG image, plain text file, or Word, Excel, PowerPoint or OpenDocument text "
            "document, up to 10 MB") in page


def test_a_file_written_in_a_failed_transaction_is_removed(app_context, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    otj.log_activity(apprentice, apprenticeship, occurred_on=days_ago(1), minutes=60, activity_type="teaching",
                     description="Reading", ksb_ids=[apprenticeship.standard_version.ksbs[0].id],
                     evidence=FileStorage(io.BytesIO(PDF), filename="notes.pdf"))
    assert len(stored_files(evidence_dir)) == 1

    db.session.rollback()

    assert stored_files(evidence_dir) == []


def test_a_file_of_a_committed_transaction_stays_and_no_temporary_file_is_left(app_context, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    otj.log_activity(apprentice, apprenticeship, occurred_on=days_ago(1), minutes=60, activity_type="teaching",
                     description="Reading", ksb_ids=[apprenticeship.standard_version.ksbs[0].id],
                     evidence=FileStorage(io.BytesIO(PDF), filename="notes.pdf"))
    db.session.commit()
    db.session.rollback()  # a later transaction ending does not touch it
    [stored] = stored_files(evidence_dir)
    assert stored.name == db.session.scalar(select(EvidenceFile.storage_key))
    assert not [p for p in stored_files(evidence_dir) if p.name.startswith(".upload-")]


def test_a_refused_entry_writes_no_file(app_context, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    with pytest.raises(ServiceError):
        otj.log_activity(apprentice, apprenticeship, occurred_on=days_ago(1), minutes=60, activity_type="induction",
                         description="Reading", ksb_ids=[apprenticeship.standard_version.ksbs[0].id],
                         evidence=FileStorage(io.BytesIO(PDF), filename="notes.pdf"))
    assert stored_files(evidence_dir) == []


# Downloading -------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["apprentice", "supervisor", "coordinator"])
def test_people_who_may_see_the_record_download_the_evidence(client, record, who):
    apprenticeship, apprentice, supervisor = record
    activity = with_evidence(apprenticeship, filename="Week 3 notes.pdf")
    person = {"apprentice": apprentice, "supervisor": supervisor, "coordinator": None}[who] or make_coordinator()
    sign_in(client, person)

    response = client.get(evidence_path(activity))

    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=Week_3_notes.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("who", ["another apprentice", "an unrelated supervisor", "a coordinator of another borough"])
def test_people_outside_the_record_get_404_for_its_evidence(client, record, who):
    apprenticeship, *_ = record
    activity = with_evidence(apprenticeship)
    outsider = {
        "another apprentice": lambda: make_apprentice("other@example.org", name="Olu Other"),
        "an unrelated supervisor": lambda: make_placement(make_apprenticeship(), supervisor=make_supervisor(
            "other-supervisor@example.org")).supervisor,
        "a coordinator of another borough": lambda: make_coordinator(
            "th@example.org", scope=(TOWER_HAMLETS,), organisation_code=TOWER_HAMLETS),
    }[who]()
    sign_in(client, outsider)
    assert client.get(evidence_path(activity)).status_code == 404


def test_evidence_through_another_apprenticeship_is_not_found(client, record):
    apprenticeship, apprentice, _ = record
    others = make_apprenticeship()
    activity = with_evidence(others)
    sign_in(client, apprentice)
    assert client.get(f"/apprenticeships/{apprenticeship.id}/off-the-job/{activity.id}/evidence").status_code == 404


def test_no_evidence_or_a_missing_file_is_not_found(client, record, evidence_dir):
    apprenticeship, apprentice, _ = record
    without = make_otj(apprenticeship, on=days_ago(3))
    lost = with_evidence(apprenticeship)
    for path in stored_files(evidence_dir):
        path.unlink()
    sign_in(client, apprentice)
    assert client.get(evidence_path(without)).status_code == 404
    assert client.get(evidence_path(lost)).status_code == 404


def test_signed_out_people_are_sent_to_sign_in(client, record):
    apprenticeship, *_ = record
    activity = with_evidence(apprenticeship)
    response = client.get(evidence_path(activity))
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
