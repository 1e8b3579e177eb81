"""Backups: the database and the evidence files together, in one archive, and restoring them.

A dump of the database alone restores off-the-job records whose evidence files are missing, so a backup is one
``.tar.gz`` holding:

- ``database/pathways.sqlite3`` (SQLite: a consistent copy made with SQLite's backup API), or
  ``database/pathways.pgdump`` (PostgreSQL: ``pg_dump``'s custom format), or ``database/rows.jsonl``
  (PostgreSQL where ``pg_dump`` is missing or too old for the server: every row of every table, portable);
- ``evidence/<ab>/<storage key>``: every evidence file the database refers to, as laid out under EVIDENCE_DIR;
- ``manifest.json``, written last: the schema revision, the database and how it was dumped, the rows of each
  table, and the size and SHA-256 of every other member.

The evidence files are listed from the same snapshot the dump is taken from, after it: a file is written before
the row that names it is committed, and never changed, so every file the dump refers to is on disk.

Restoring checks the whole archive against its manifest before it changes anything, and refuses a backup of
another schema revision or another kind of database, and a database or evidence folder that already holds
data unless forced.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path, PurePosixPath

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models.types import utcnow
from app.services import ServiceError
from app.services.evidence import STORAGE_KEY

FORMAT = "pathways-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/pathways.sqlite3"
PG_DUMP_MEMBER = "database/pathways.pgdump"
ROWS_MEMBER = "database/rows.jsonl"
CHUNK = 1024 * 1024
# Tables a downgrade keeps (see README, "Downgrades keep data"): pg_dump and SQLite copies carry them, the portable
# dump cannot (it rebuilds the schema from the migrations).
ARCHIVED_PREFIX = "archived_"
PROGRESS_SECONDS = 2.0

Echo = Callable[[str], None]


class BackupError(ServiceError):
    pass


@dataclass
class Backup:
    path: Path
    revision: str
    database: str
    dump: str
    rows: int
    tables: int
    evidence_files: int
    size: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class Restored:
    revision: str
    created_at: str
    rows: int
    tables: int
    evidence_files: int
    evidence_set_aside: Path | None


def _quiet(_line: str) -> None:
    pass


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def head_revision() -> str:
    """The schema revision this Pathways' code expects (the newest migration)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    return script.get_current_head()


def _evidence_dir() -> Path:
    return Path(current_app.config["EVIDENCE_DIR"])


def _kind() -> str:
    return db.engine.dialect.name


def _sqlite_path() -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError("the database is in memory: there is nothing on disk to back up or restore into")
    return Path(database)


def _libpq(url) -> tuple[str, dict[str, str]]:
    """A libpq address for pg_dump and pg_restore, with the password passed in the environment (not on a command
    line anyone on the server can read)."""
    address = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return address, environment


def _run(command: list[str], environment: dict[str, str], what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[-1] if lines else f'exit code {result.returncode}'}")
    return result


def _user_tables(connection) -> list[str]:
    return sorted(name for name in sa.inspect(connection).get_table_names() if name != "alembic_version")


def _count_rows(connection, tables: list[str]) -> dict[str, int]:
    return {name: connection.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            for name in tables}


def _revision_of(connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _evidence_rows(connection) -> list[tuple[str, str, int]]:
    if not sa.inspect(connection).has_table("evidence_file"):
        return []
    return [tuple(row) for row in connection.execute(
        sa.text("SELECT storage_key, sha256, size FROM evidence_file ORDER BY id"))]


# Values of the portable dump -------------------------------------------------------------------------------


def _encode(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time_of_day):
        return {"$time": value.isoformat()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict | list):
        return {"$json": value}
    raise BackupError(f"cannot write a value of type {type(value).__name__} to a portable dump")


DECODERS = {"$decimal": Decimal, "$datetime": datetime.fromisoformat, "$date": date.fromisoformat,
            "$time": time_of_day.fromisoformat, "$bytes": base64.b64decode, "$json": lambda value: value}


def _decode(value):
    if isinstance(value, dict):
        [(tag, inner)] = value.items()
        return DECODERS[tag](inner)
    return value


# Creating a backup -------------------------------------------------------------------------------------------


class _Hashing:
    """A file being read into the archive, hashed on the way."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


class _Archive:
    """Writes members into the tar, keeping the size and SHA-256 of each for the manifest."""

    def __init__(self, tar: tarfile.TarFile):
        self.tar = tar
        self.files: dict[str, dict] = {}

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(time.time()), 0o600
        return info

    def add(self, name: str, source: Path) -> str:
        with source.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            reader = _Hashing(handle)
            self.tar.addfile(self._info(name, size), reader)
        self.files[name] = {"size": size, "sha256": reader.digest.hexdigest()}
        return self.files[name]["sha256"]

    def add_bytes(self, name: str, content: bytes) -> None:
        self.tar.addfile(self._info(name, len(content)), io.BytesIO(content))


@dataclass
class _Dump:
    member: str
    dump: str
    file: Path
    counts: dict[str, int]
    revision: str | None
    evidence: list[tuple[str, str, int]]
    note: str | None = None


def _dump_sqlite(work: Path, echo: Echo) -> _Dump:
    source_path = _sqlite_path()
    if not source_path.exists():
        raise BackupError(f"the SQLite database {source_path} does not exist")
    copy = work / "pathways.sqlite3"
    last = [time.monotonic()]

    def progress(_status, remaining, total):
        if time.monotonic() - last[0] >= PROGRESS_SECONDS and total:
            last[0] = time.monotonic()
            echo(f"  database: {100 * (total - remaining) // total}% copied")

    # SQLite's backup API copies a consistent state page by page, even while Pathways writes.
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target, pages=4096, progress=progress)
    finally:
        source.close()
        target.close()
    engine = sa.create_engine(f"sqlite:///{copy}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            counts = _count_rows(connection, _user_tables(connection))
            return _Dump(SQLITE_MEMBER, "sqlite-backup", copy, counts, _revision_of(connection),
                         _evidence_rows(connection))
    finally:
        engine.dispose()


def _dump_rows(connection, destination: Path, counts: dict[str, int], echo: Echo) -> None:
    """Every row of the given tables, as JSON lines: a line naming a table, its columns and how many rows follow,
    then one line per row; tables come in the order their rows can be inserted."""
    metadata = sa.MetaData()
    metadata.reflect(connection, only=list(counts))
    last = time.monotonic()
    with destination.open("w", encoding="utf-8") as out:
        for table in metadata.sorted_tables:
            if table.name not in counts:
                continue
            out.write(json.dumps({"table": table.name, "columns": [c.name for c in table.columns],
                                  "rows": counts[table.name]}) + "\n")
            written = 0
            for row in connection.execute(sa.select(table).execution_options(yield_per=1000)):
                out.write(json.dumps([_encode(value) for value in row]) + "\n")
                written += 1
            if written != counts[table.name]:
                raise BackupError(f"{table.name} changed while it was written")  # cannot happen in one snapshot
            if time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                echo(f"  database: {table.name} written")


def _dump_postgresql(work: Path, echo: Echo) -> _Dump:
    engine = db.engine
    # One snapshot for everything: pg_dump reads the very state the counts and the evidence list are taken from.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection, connection.begin():
        snapshot = connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
        tables = _user_tables(connection)
        counts = _count_rows(connection, tables)
        revision = _revision_of(connection)
        evidence_rows = _evidence_rows(connection)
        pg_dump = shutil.which("pg_dump")
        note = None
        if pg_dump:
            address, environment = _libpq(engine.url)
            file = work / "pathways.pgdump"
            try:
                _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                      f"--file={file}", f"--dbname={address}"], environment, "pg_dump")
                return _Dump(PG_DUMP_MEMBER, "pg_dump", file, counts, revision, evidence_rows)
            except BackupError as error:
                if "version mismatch" not in error.message:
                    raise
                note = f"{error.message}, so the database is in a portable dump instead"
        else:
            note = ("pg_dump is not installed, so the database is in a portable dump (install the PostgreSQL client "
                    "tools to use pg_dump)")
        kept = [name for name in tables if not name.startswith(ARCHIVED_PREFIX)]
        left_out = sorted(set(tables) - set(kept))
        if left_out:
            note += f"; tables kept by downgrades are not in it: {', '.join(left_out)}"
        file = work / "rows.jsonl"
        kept_counts = {name: counts[name] for name in kept}
        _dump_rows(connection, file, kept_counts, echo)
        return _Dump(ROWS_MEMBER, "rows", file, kept_counts, revision, evidence_rows, note)


def _default_destination() -> Path:
    folder = Path(current_app.instance_path) / "backups"
    return folder / f"pathways-{utcnow().strftime('%Y%m%d-%H%M%S')}.tar.gz"


def create(destination: str | Path | None = None, *, echo: Echo = _quiet) -> Backup:
    """Back up the database and the evidence files into one archive at ``destination`` (a file, or a folder to
    put a dated file in: an existing one, or a name ending with /; by default instance/backups/). The archive
    appears only once complete."""
    folder_named = isinstance(destination, str) and destination.endswith(("/", os.sep))
    destination = Path(destination) if destination else _default_destination()
    if folder_named or destination.is_dir():
        destination = destination / _default_destination().name
    if destination.exists():
        raise BackupError(f"{destination} already exists: choose another name, so no backup is overwritten")
    if not destination.parent.is_dir():
        destination.parent.mkdir(parents=True, mode=0o700)
    kind = _kind()
    if kind not in ("sqlite", "postgresql"):
        raise BackupError(f"backups cover SQLite and PostgreSQL databases, not {kind}")
    db.session.remove()

    echo(f"Backing up Pathways ({'SQLite' if kind == 'sqlite' else 'PostgreSQL'}) to {destination}")
    started = time.monotonic()
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix=".pathways-backup-", dir=destination.parent) as folder:
        work = Path(folder)
        dump = _dump_sqlite(work, echo) if kind == "sqlite" else _dump_postgresql(work, echo)
        if dump.revision is None:
            raise BackupError("the database has no Pathways schema: run 'flask db upgrade' first")
        if dump.note:
            warnings.append(dump.note)
        rows = sum(dump.counts.values())
        echo(f"  database: {rows:,} rows in {len(dump.counts)} tables at schema revision {dump.revision}, "
             f"{describe_size(dump.file.stat().st_size)} ({dump.dump}), {time.monotonic() - started:.1f} s")

        partial = work / "backup.tar.gz"
        evidence_dir = _evidence_dir()
        added = 0
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            archive = _Archive(tar)
            archive.add(dump.member, dump.file)
            last = time.monotonic()
            for number, (storage_key, recorded_sha256, recorded_size) in enumerate(dump.evidence, start=1):
                if not STORAGE_KEY.match(storage_key or ""):
                    warnings.append(f"evidence record with an unusable storage key {storage_key!r} left out")
                    continue
                relative = f"{storage_key[:2]}/{storage_key}"
                source = evidence_dir / relative
                if not source.is_file():
                    warnings.append(f"evidence file {relative} is missing from {evidence_dir}")
                    continue
                sha256 = archive.add(f"evidence/{relative}", source)
                added += 1
                if sha256 != recorded_sha256 or source.stat().st_size != recorded_size:
                    warnings.append(f"evidence file {relative} differs from the checksum recorded when it was uploaded")
                if time.monotonic() - last >= PROGRESS_SECONDS:
                    last = time.monotonic()
                    echo(f"  evidence files: {number:,} of {len(dump.evidence):,}")
            echo(f"  evidence files: {added:,} of {len(dump.evidence):,} added")
            manifest = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "created_at": utcnow().isoformat(),
                "revision": dump.revision, "database": {"kind": kind, "dump": dump.dump, "member": dump.member},
                "counts": dump.counts, "evidence_files": added, "warnings": warnings, "files": archive.files,
            }
            archive.add_bytes(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
        partial.chmod(0o600)
        os.replace(partial, destination)
    for warning in warnings:
        echo(f"  warning: {warning}")
    size = destination.stat().st_size
    echo(f"Backup written: {destination} ({describe_size(size)}) in {time.monotonic() - started:.1f} s")
    return Backup(destination, dump.revision, kind, dump.dump, rows, len(dump.counts), added, size, warnings)


# Reading and checking a backup -------------------------------------------------------------------------------


@dataclass
class Checked:
    manifest: dict
    folder: Path | None

    @property
    def database_file(self) -> Path:
        return self.folder / self.manifest["database"]["member"]

    @property
    def evidence_folder(self) -> Path:
        return self.folder / "evidence"


def _safe_member(member: tarfile.TarInfo) -> str:
    path = PurePosixPath(member.name)
    if not member.isfile() or path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"it holds {member.name!r}, which no Pathways backup has")
    if path.parts[0] not in ("database", "evidence") and member.name != MANIFEST:
        raise BackupError(f"it holds {member.name!r}, which no Pathways backup has")
    return str(path)


def _target(folder: Path | None, name: str):
    if folder is None:
        return open(os.devnull, "wb")  # noqa: SIM115 - used as a context manager by the caller
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("wb")


def _read_manifest(path: Path, content: bytes) -> dict:
    try:
        manifest = json.loads(content)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is damaged or not a Pathways backup: its {MANIFEST} cannot be read")
    shape = {"revision": str, "created_at": str, "database": dict, "counts": dict, "files": dict,
             "evidence_files": int}
    if manifest.get("format_version") == FORMAT_VERSION and not all(
            isinstance(manifest.get(key), kind) for key, kind in shape.items()):
        raise BackupError(f"{path} is damaged: its {MANIFEST} lacks what a backup lists")
    if not all(isinstance(manifest["database"].get(key), str) for key in ("kind", "dump", "member")):
        raise BackupError(f"{path} is damaged: its {MANIFEST} does not say how the database was dumped")
    return manifest


def check(path: Path, folder: Path | None, *, echo: Echo = _quiet) -> Checked:
    """Check every member of the archive at ``path`` against its manifest, unpacking them into ``folder`` (or
    only reading them, without one)."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    found: dict[str, dict] = {}
    manifest_bytes = None
    last = time.monotonic()
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                name = _safe_member(member)
                if name in found or (name == MANIFEST and manifest_bytes is not None):
                    raise BackupError(f"it holds {name} twice")
                source = tar.extractfile(member)
                if name == MANIFEST:
                    manifest_bytes = source.read()
                    continue
                digest = hashlib.sha256()
                size = 0
                with _target(folder, name) as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                found[name] = {"size": size, "sha256": digest.hexdigest()}
                if time.monotonic() - last >= PROGRESS_SECONDS:
                    last = time.monotonic()
                    echo(f"  checked {len(found):,} files")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(f"{path} is damaged or not a Pathways backup: {error}") from None
    except BackupError as error:
        raise BackupError(f"{path} is not a Pathways backup: {error.message}") from None
    if manifest_bytes is None:
        raise BackupError(f"{path} is damaged or not a Pathways backup: it has no {MANIFEST}")
    manifest = _read_manifest(path, manifest_bytes)
    expected = manifest["files"]
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path} is a Pathways backup of format {manifest.get('format_version')}; this Pathways "
                          f"reads format {FORMAT_VERSION}")
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    changed = sorted(name for name in set(expected) & set(found) if expected[name] != found[name])
    if missing or unexpected or changed:
        problems = ([f"{len(changed)} files differ from their checksums (first: {changed[0]})"] if changed else []) + \
                   ([f"{len(missing)} files are missing (first: {missing[0]})"] if missing else []) + \
                   ([f"{len(unexpected)} files are not in its manifest (first: {unexpected[0]})"] if unexpected else [])
        raise BackupError(f"{path} is damaged: {'; '.join(problems)}")
    if manifest["database"]["member"] not in found:
        raise BackupError(f"{path} is damaged: it has no database dump")
    return Checked(manifest, folder)


def describe(checked: Checked) -> str:
    manifest = checked.manifest
    rows = sum(manifest["counts"].values())
    return (f"made {manifest['created_at']}, schema revision {manifest['revision']}, "
            f"{manifest['database']['kind']} ({manifest['database']['dump']}), {rows:,} rows in "
            f"{len(manifest['counts'])} tables, {manifest['evidence_files']:,} evidence files")


def verify(path: Path, *, echo: Echo = _quiet) -> Checked:
    """Check an archive without restoring it (its members are read, not unpacked)."""
    return check(path, None, echo=echo)


# Restoring -----------------------------------------------------------------------------------------------------


def _held_data(evidence_dir: Path) -> list[str]:
    """What the database and the evidence folder already hold, in words; empty when nothing."""
    with db.engine.connect() as connection:
        counts = _count_rows(connection, _user_tables(connection))
    held = []
    if rows := sum(counts.values()):
        held.append(f"{rows:,} rows in {sum(1 for count in counts.values() if count)} tables, "
                    f"{counts.get('person', 0):,} of them people")
    files = sum(1 for item in evidence_dir.rglob("*") if item.is_file()) if evidence_dir.is_dir() else 0
    if files:
        held.append(f"{files:,} evidence files in {evidence_dir}")
    return held


def _wipe_postgresql(connection) -> None:
    quote = connection.dialect.identifier_preparer.quote
    for table in sa.inspect(connection).get_table_names():
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {quote(table)} CASCADE"))


def _restore_sqlite(checked: Checked) -> None:
    target_path = _sqlite_path()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    db.engine.dispose()
    source = sqlite3.connect(f"{checked.database_file.resolve().as_uri()}?mode=ro", uri=True)
    target = sqlite3.connect(target_path)
    try:
        # Page by page under SQLite's own lock: the whole database is replaced at once.
        source.backup(target)
    finally:
        source.close()
        target.close()


def _restore_pg_dump(checked: Checked) -> None:
    pg_restore = shutil.which("pg_restore")
    if not pg_restore:
        raise BackupError("this backup was made with pg_dump: install the PostgreSQL client tools (pg_restore) "
                          "to restore it")
    address, environment = _libpq(db.engine.url)
    # pg_restore must be able to read the dump before anything is removed.
    _run([pg_restore, "--list", str(checked.database_file)], environment, "pg_restore")
    db.engine.dispose()
    with db.engine.begin() as connection:
        _wipe_postgresql(connection)
    _run([pg_restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
          f"--dbname={address}", str(checked.database_file)], environment, "pg_restore")


def _continue_sequence(connection, table: sa.Table) -> None:
    """Rows went in with their ids: new ones must be numbered after the largest."""
    primary_key = list(table.primary_key.columns)
    if len(primary_key) != 1 or not isinstance(primary_key[0].type, sa.Integer):
        return
    column = primary_key[0]
    sequence = connection.execute(sa.select(sa.func.pg_get_serial_sequence(table.name, column.name))).scalar()
    if sequence:
        largest = sa.func.max(column)
        connection.execute(sa.select(sa.func.setval(sequence, sa.func.coalesce(largest, 1), largest.is_not(None))))


def _restore_rows(checked: Checked, echo: Echo) -> None:
    from flask_migrate import upgrade

    db.engine.dispose()
    with db.engine.begin() as connection:
        _wipe_postgresql(connection)
    upgrade(revision=checked.manifest["revision"])
    db.engine.dispose()
    with db.engine.begin() as connection, checked.database_file.open(encoding="utf-8") as lines:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        last = time.monotonic()
        for header_line in lines:
            header = json.loads(header_line)
            table = metadata.tables[header["table"]]
            columns = header["columns"]
            json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
            # A row that refers to another of its table (a superseded certificate) is linked after all are in.
            self_links = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
            batch, links = [], []
            for _ in range(header["rows"]):
                row = dict(zip(columns, (_decode(value) for value in json.loads(next(lines))), strict=True))
                for name in json_columns:
                    if row.get(name) is None:
                        row[name] = sa.null()
                for name in self_links:
                    if row.get(name) is not None:
                        links.append((row, name, row[name]))
                        row[name] = None
                batch.append(row)
                if len(batch) >= 1000:
                    connection.execute(table.insert(), batch)
                    batch = []
            if batch:
                connection.execute(table.insert(), batch)
            primary_key = list(table.primary_key.columns)
            for row, name, value in links:
                condition = sa.and_(*(column == row[column.name] for column in primary_key))
                connection.execute(table.update().where(condition).values({name: value}))
            _continue_sequence(connection, table)
            if time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                echo(f"  database: {table.name} restored")


def restore(path: Path, *, force: bool = False, echo: Echo = _quiet) -> Restored:
    """Replace the database and the evidence files with the backup at ``path``. Everything is checked first;
    without ``force`` a database or evidence folder that holds anything is refused. The evidence folder being
    replaced is set aside beside it, not deleted."""
    kind = _kind()
    evidence_dir = _evidence_dir()
    evidence_dir.parent.mkdir(parents=True, exist_ok=True)
    db.session.remove()
    started = time.monotonic()
    echo(f"Checking {path}")
    # Unpacked beside the evidence folder, so the files are moved into place, not copied.
    with tempfile.TemporaryDirectory(prefix=".pathways-restore-", dir=evidence_dir.parent) as folder:
        checked = check(Path(path), Path(folder), echo=echo)
        manifest = checked.manifest
        echo(f"  {describe(checked)}")
        expected_revision = head_revision()
        if manifest["revision"] != expected_revision:
            raise BackupError(
                f"this backup is of schema revision {manifest['revision']}, but this Pathways is at "
                f"{expected_revision}: restore it with the Pathways release of that revision (then run "
                f"'flask db upgrade'), or use a backup made by this release")
        if manifest["database"]["kind"] != kind:
            raise BackupError(f"this backup is of a {manifest['database']['kind']} database, but DATABASE_URL is "
                              f"{kind}: restore it into a {manifest['database']['kind']} database")
        held = _held_data(evidence_dir)
        if held and not force:
            raise BackupError(f"the database or the evidence folder already holds data ({'; '.join(held)}): "
                              "restoring replaces it all. Run again with --force to replace it (make a backup of it "
                              "first with 'flask backup create')")

        echo("Replacing the database")
        dump = manifest["database"]["dump"]
        if dump == "sqlite-backup":
            _restore_sqlite(checked)
        elif dump == "pg_dump":
            _restore_pg_dump(checked)
        elif dump == "rows":
            _restore_rows(checked, echo)
        else:
            raise BackupError(f"this backup's database dump is of an unknown kind ({dump})")
        db.engine.dispose()

        echo("Putting the evidence files in place")
        set_aside = None
        if evidence_dir.exists():
            if any(evidence_dir.iterdir()):
                set_aside = evidence_dir.with_name(f"{evidence_dir.name}.before-restore-"
                                                   f"{utcnow().strftime('%Y%m%d-%H%M%S')}")
                evidence_dir.rename(set_aside)
            else:
                evidence_dir.rmdir()
        if checked.evidence_folder.is_dir():
            checked.evidence_folder.rename(evidence_dir)
        else:
            evidence_dir.mkdir()

    with db.engine.connect() as connection:
        counts = _count_rows(connection, list(manifest["counts"]))
        evidence_rows = _evidence_rows(connection)
    if counts != manifest["counts"]:
        differing = [name for name in manifest["counts"] if counts.get(name) != manifest["counts"][name]]
        raise BackupError(f"the restored database does not hold what the backup lists (tables {', '.join(differing)})")
    missing = [key for key, _sha, _size in evidence_rows if not (evidence_dir / key[:2] / key).is_file()]
    if set_aside:
        echo(f"  the evidence files that were there are kept in {set_aside}")
    if missing:
        echo(f"  warning: {len(missing)} evidence records have no file (the backup listed them as missing)")
    rows = sum(counts.values())
    echo(f"Restored {rows:,} rows in {len(counts)} tables and {manifest['evidence_files']:,} evidence files "
         f"(backup made {manifest['created_at']}) in {time.monotonic() - started:.1f} s")
    return Restored(manifest["revision"], manifest["created_at"], rows, len(counts), manifest["evidence_files"],
                    set_aside)
