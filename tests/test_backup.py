"""Backups: `flask backup create` writes the database and the evidence files into one archive with a manifest;
`flask backup restore` brings both back (evidence downloads work again), after checking the archive, its schema
revision and that nothing would be overwritten unasked."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from werkzeug.datastructures import FileStorage

from app import create_app
from app.extensions import db
from app.models import OtjStatus, Person
from app.services import certificates, evidence
from app.services import organisations as organisation_service
from app.services.backup import head_revision
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_otj,
    make_placement,
    make_standard_version,
)
from tests.certificate_factories import make_completed_enrolment
from tests.conftest import (
    BACKEND,
    TEST_SETTINGS,
    make_person,
    sign_in,
)
from tests.test_migrations import (
    empty_database,
    empty_database_of_its_own,
    postgresql_database_for_a_module,
    snapshot,
)

NOTES = b"Notes from the accessibility workshop, week 3.\n"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 40


class Site:
    """Pathways on a database and an evidence folder of its own."""

    def __init__(self, url: str, evidence_dir: Path):
        self.url, self.evidence_dir = url, evidence_dir
        self.app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, EVIDENCE_DIR=str(evidence_dir), **TEST_SETTINGS)

    def flask(self, *args: str):
        """Run a `flask` command; its output and exit code."""
        return self.app.test_cli_runner().invoke(args=list(args))

    def wipe(self) -> None:
        """Lose everything: every table of the database (or its file), and the evidence folder."""
        db.session.remove()
        db.engine.dispose()
        if BACKEND == "postgresql":
            empty_database(self.url)
        else:
            Path(make_url(self.url).database).unlink()
        shutil.rmtree(self.evidence_dir)


@pytest.fixture(scope="module")
def postgresql_database():
    with postgresql_database_for_a_module() as url:
        yield url


@pytest.fixture
def site(postgresql_database, tmp_path):
    made = Site(empty_database_of_its_own(postgresql_database, tmp_path), tmp_path / "evidence")
    with made.app.app_context():
        upgrade()
        organisation_service.load_reference_organisations()
        db.session.commit()
        yield made
        db.session.remove()
        db.engine.dispose()


def record_with_evidence():
    """An apprentice's approved hours with two evidence files; their download addresses and contents."""
    apprentice = make_apprentice("ada@example.org")
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    make_placement(apprenticeship)
    files = {}
    for content, name in ((NOTES, "notes.txt"), (PNG, "whiteboard.png")):
        activity = make_otj(apprenticeship, status=OtjStatus.APPROVED)
        evidence.store(activity, FileStorage(io.BytesIO(content), filename=name))
        db.session.commit()
        files[f"/apprenticeships/{apprenticeship.id}/off-the-job/{activity.id}/evidence"] = content
    return apprentice, files


def downloads(site: Site, person, files: dict[str, bytes]) -> dict[str, tuple[int, bytes]]:
    browser = site.app.test_client()
    sign_in(browser, person.email)
    return {path: (response.status_code, response.data) for path in files
            for response in [browser.get(path)]}


def stored_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_backup_restores_the_database_and_the_evidence_files_together(site, tmp_path):
    apprentice, files = record_with_evidence()
    before = snapshot()
    archive = tmp_path / "backups" / "pathways.tar.gz"

    made = site.flask("backup", "create", str(archive))

    assert made.exit_code == 0, made.output
    assert "database: " in made.output and "evidence files: 2 of 2 added" in made.output
    assert f"Backup written: {archive}" in made.output
    assert archive.stat().st_mode & 0o077 == 0  # personal data: readable by its owner alone
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["revision"] == head_revision()
    assert manifest["database"]["dump"] == ("pg_dump" if BACKEND == "postgresql" else "sqlite-backup")
    assert manifest["counts"]["evidence_file"] == 2 and manifest["counts"]["person"] == len(before["person"])
    assert sorted(n for n in names if n.startswith("evidence/")) == sorted(
        f"evidence/{p.parent.name}/{p.name}" for p in stored_files(site.evidence_dir))
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    checked = site.flask("backup", "check", str(archive))
    assert checked.exit_code == 0, checked.output
    assert f"{archive} is whole: made " in checked.output and "2 evidence files" in checked.output
    assert_refused(site.flask("backup", "create", str(archive)),
                   f"{archive} already exists: choose another name, so no backup is overwritten")

    site.wipe()
    restored = site.flask("backup", "restore", str(archive))

    assert restored.exit_code == 0, restored.output
    assert "Restored " in restored.output and "2 evidence files" in restored.output
    assert snapshot() == before
    assert downloads(site, apprentice, files) == {path: (200, content) for path, content in files.items()}
    # Numbering carries on after the restored rows.
    assert make_person("after@example.org").id > max(row["id"] for row in before["person"])


# Refusals -------------------------------------------------------------------------------------------------------


@pytest.fixture
def archive(site, tmp_path):
    """A backup made into a folder, where it gets a dated name."""
    record_with_evidence()
    folder = tmp_path / "backups"
    folder.mkdir()
    made = site.flask("backup", "create", str(folder))
    assert made.exit_code == 0, made.output
    [path] = folder.iterdir()
    assert path.name.startswith("pathways-") and path.name.endswith(".tar.gz")
    return path


def repack(source: Path, target: Path, change) -> Path:
    """A copy of the archive with ``change(name, content) -> content`` applied to each member."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old:
            content = change(member.name, old.extractfile(member).read())
            member.size = len(content)
            new.addfile(member, io.BytesIO(content))
    return target


def assert_refused(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_restoring_over_data_needs_force_and_sets_the_evidence_aside(site, archive):
    make_person("added.after.the.backup@example.org")
    kept = snapshot()

    refused = site.flask("backup", "restore", str(archive))

    assert_refused(refused, "already holds data", "of them people", "2 evidence files in", "--force",
                   "flask backup create")
    assert snapshot() == kept

    forced = site.flask("backup", "restore", "--force", str(archive))

    assert forced.exit_code == 0, forced.output
    assert db.session.scalar(select(func.count()).select_from(Person).where(
        Person.email == "added.after.the.backup@example.org")) == 0
    [set_aside] = site.evidence_dir.parent.glob("evidence.before-restore-*")
    assert len(stored_files(set_aside)) == 2 and len(stored_files(site.evidence_dir)) == 2
    assert f"kept in {set_aside}" in forced.output


def older(name: str, content: bytes) -> bytes:
    if name != "manifest.json":
        return content
    return json.dumps(json.loads(content) | {"revision": "0004_certificates"}).encode()


def test_a_damaged_backup_or_one_of_another_schema_revision_is_refused_before_anything_changes(site, archive,
                                                                                               tmp_path):
    content = archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(content[: len(content) // 2])
    flipped = tmp_path / "flipped.tar.gz"
    middle = len(content) // 2
    flipped.write_bytes(content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1:])
    tampered = repack(archive, tmp_path / "tampered.tar.gz",
                      lambda name, data: data + b"changed" if name.startswith("evidence/") else data)
    no_manifest = tmp_path / "no-manifest.tar.gz"
    with tarfile.open(archive) as old, tarfile.open(no_manifest, "w:gz") as new:
        for member in old:
            if member.name != "manifest.json":
                new.addfile(member, old.extractfile(member))
    stranger = tmp_path / "stranger.tar.gz"
    stranger.write_bytes(gzip.compress(b"not a tar file at all"))
    other_revision = repack(archive, tmp_path / "older.tar.gz", older)
    site.wipe()

    assert_refused(site.flask("backup", "restore", str(other_revision)),
                   f"this backup is of schema revision 0004_certificates, but this Pathways is at {head_revision()}")

    assert_refused(site.flask("backup", "restore", str(truncated)), "is damaged or not a Pathways backup")
    assert_refused(site.flask("backup", "restore", str(flipped)), "is damaged")
    assert_refused(site.flask("backup", "restore", str(tampered)), "is damaged: 2 files differ from their checksums")
    assert_refused(site.flask("backup", "restore", str(no_manifest)), "has no manifest.json")
    assert_refused(site.flask("backup", "restore", str(stranger)), "is damaged or not a Pathways backup")
    assert_refused(site.flask("backup", "restore", str(tmp_path / "missing.tar.gz")), "does not exist")
    assert_refused(site.flask("backup", "check", str(tampered)), "2 files differ from their checksums")
    # Nothing was restored, and the wiped site is as empty as it was.
    assert not site.evidence_dir.exists() or not stored_files(site.evidence_dir)
    assert snapshot() == {}


@pytest.mark.skipif(BACKEND != "postgresql", reason="the portable dump is PostgreSQL's fallback")
def test_without_pg_dump_a_portable_dump_restores_the_same(site, tmp_path, monkeypatch):
    apprentice, files = record_with_evidence()
    # A certificate reissued: its first version refers to the second (rows of one table linked to each other).
    first = certificates.store(certificates.prepare_for_enrolment(make_completed_enrolment()), PDF)
    certificates.reissue(None, first, "Name corrected")
    db.session.commit()
    before = snapshot()
    assert [row["superseded_by_id"] for row in before["certificate"]] == [2, None]
    archive = tmp_path / "portable.tar.gz"
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # a machine without the PostgreSQL client tools

    made = site.flask("backup", "create", str(archive))

    assert made.exit_code == 0, made.output
    assert "warning: pg_dump is not installed, so the database is in a portable dump" in made.output
    site.wipe()
    restored = site.flask("backup", "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert snapshot() == before
    assert downloads(site, apprentice, files) == {path: (200, content) for path, content in files.items()}
    assert make_person("after@example.org").id > max(row["id"] for row in before["person"])
