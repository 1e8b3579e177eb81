"""Evidence files of off-the-job hours.

The bytes live under ``EVIDENCE_DIR`` (never in ``static/``), each named by a random storage key; the
``EvidenceFile`` row holds the person's file name, its checked type, size and checksum. A file's type is
decided by its content, not its name: only PDF, PNG, JPEG, plain text and office documents (Word, Excel,
PowerPoint, OpenDocument text) are kept. Files are written atomically, and a file written in a
transaction that does not commit is removed again, so no orphan stays on disk.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.utils import secure_filename

from app.extensions import db
from app.models import EvidenceFile, OtjActivity
from app.services import ServiceError

CHUNK = 64 * 1024
STORAGE_KEY = re.compile(r"^[0-9a-f]{32}$")
PENDING = "pathways.evidence_written"
ALLOWED_DESCRIPTION = ("a PDF, PNG or JPEG image, plain text file, or Word, Excel, PowerPoint or OpenDocument text "
                       "document")


@dataclass(frozen=True)
class Kind:
    label: str
    content_type: str
    extensions: tuple[str, ...]


PDF = Kind("PDF", "application/pdf", ("pdf",))
PNG = Kind("PNG image", "image/png", ("png",))
JPEG = Kind("JPEG image", "image/jpeg", ("jpg", "jpeg"))
TEXT = Kind("plain text file", "text/plain", ("txt", "text", "md", "csv", "log"))
DOCX = Kind("Word document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ("docx",))
XLSX = Kind("Excel spreadsheet", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ("xlsx",))
PPTX = Kind("PowerPoint presentation", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ("pptx",))
ODT = Kind("OpenDocument text document", "application/vnd.oasis.opendocument.text", ("odt",))
KINDS = (PDF, PNG, JPEG, TEXT, DOCX, XLSX, PPTX, ODT)
ALLOWED_CONTENT_TYPES = frozenset(kind.content_type for kind in KINDS)
ACCEPT = ",".join(f".{ext}" for kind in KINDS for ext in kind.extensions)

# The part that marks each zip-based office format.
OFFICE_PARTS = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX), ("ppt/presentation.xml", PPTX))
# Text that a browser would treat as a page or a script, whatever the file is called.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
MARKUP = re.compile(rb"^\s*(<!doctype|<html|<head|<body|<script|<svg|<\?xml|<iframe|<object|<!--)", re.I)


def max_bytes() -> int:
    return int(current_app.config["EVIDENCE_MAX_BYTES"])


def limit_text() -> str:
    """The size limit in words, e.g. "10 MB"."""
    size = max_bytes()
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{size / 1024:g} KB"


def too_large_message() -> str:
    return f"The selected file must be smaller than {limit_text()}"


def allowed_text() -> str:
    return f"Upload {ALLOWED_DESCRIPTION}, up to {limit_text()}"


def evidence_dir() -> Path:
    return Path(current_app.config["EVIDENCE_DIR"])


def path_for(storage_key: str) -> Path:
    if not STORAGE_KEY.match(storage_key):
        raise ValueError("not a storage key")
    return evidence_dir() / storage_key[:2] / storage_key


# Checking a file -------------------------------------------------------------------------------


def _read_limited(upload: BinaryIO) -> bytes:
    """Up to the size limit; a refusal when there is more."""
    limit, parts, size = max_bytes(), [], 0
    while True:
        chunk = upload.read(CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise ServiceError(too_large_message(), "evidence")
        parts.append(chunk)


def _office_kind(content: bytes) -> Kind | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.read("mimetype").strip() == ODT.content_type.encode():
                return ODT
            for part, kind in OFFICE_PARTS:
                if part in names and "[Content_Types].xml" in names:
                    return kind
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError, EOFError):
        return None
    return None


def _is_plain_text(content: bytes) -> bool:
    if b"\x00" in content or MARKUP.match(content.removeprefix(b"\xef\xbb\xbf")):
        return False
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not CONTROL_CHARACTERS.search(text)


def detect_kind(content: bytes) -> Kind | None:
    """What the file is, from its first bytes (and, for zip-based documents, its parts)."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        return _office_kind(content)
    if content and _is_plain_text(content):
        return TEXT
    return None


def clean_filename(filename: str | None, kind: Kind) -> str:
    """A safe version of the person's file name, ending with an extension of its real type."""
    # Only the last part of a path some browsers send, made safe for a header and a file system.
    name = secure_filename((filename or "").replace("\\", "/").rsplit("/", 1)[-1])
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    if extension.lower() not in kind.extensions:
        stem, extension = (name or "evidence"), kind.extensions[0]
    stem = (stem or "evidence")[: 250 - len(extension)]
    return f"{stem}.{extension.lower()}"


def check_upload(upload) -> tuple[bytes, Kind, str]:
    """The file's bytes, its type and a clean name; a refusal when it is empty, too large or of a type
    Pathways does not keep (judged by content, so an HTML page renamed .pdf is refused)."""
    content = _read_limited(upload.stream if hasattr(upload, "stream") else upload)
    if not content:
        raise ServiceError("The selected file is empty", "evidence")
    kind = detect_kind(content)
    if kind is None:
        raise ServiceError(f"The file must be {ALLOWED_DESCRIPTION}", "evidence")
    filename = getattr(upload, "filename", None) or ""
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    known_extensions = {ext for k in KINDS for ext in k.extensions}
    if extension in known_extensions and extension not in kind.extensions:
        raise ServiceError(f"The file's name ends .{extension} but it is a {kind.label}: "
                           f"rename it to end .{kind.extensions[0]}, or upload the right file", "evidence")
    return content, kind, clean_filename(filename, kind)


# Storing and opening -----------------------------------------------------------------------------


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def store(activity: OtjActivity, upload) -> EvidenceFile:
    """Check ``upload`` (a file with ``filename`` and ``read``, e.g. Werkzeug's ``FileStorage``), write it under
    EVIDENCE_DIR and record it against ``activity``. If the transaction then fails, the file is removed."""
    content, kind, filename = check_upload(upload)
    storage_key = secrets.token_hex(16)
    path = path_for(storage_key)
    _write_atomically(path, content)
    db.session.info.setdefault(PENDING, []).append(str(path))
    evidence_file = EvidenceFile(
        activity=activity, filename=filename, content_type=kind.content_type, size=len(content),
        sha256=hashlib.sha256(content).hexdigest(), storage_key=storage_key,
    )
    db.session.add(evidence_file)
    return evidence_file


def open_evidence(evidence_file: EvidenceFile) -> BinaryIO:
    """The stored bytes, for download. ``FileNotFoundError`` when they have gone missing."""
    if evidence_file.content_type not in ALLOWED_CONTENT_TYPES:
        raise FileNotFoundError(evidence_file.storage_key)
    return path_for(evidence_file.storage_key).open("rb")


def describe_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size} bytes"


# Files written in a transaction that does not commit are removed -------------------------------


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session):
    session.info.pop(PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _remove_uncommitted_files(session, transaction):
    if transaction.parent is not None or transaction.nested:
        return
    for name in session.info.pop(PENDING, []):
        Path(name).unlink(missing_ok=True)
