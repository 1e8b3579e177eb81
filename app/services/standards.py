"""Apprenticeship standards and their KSBs: loaded from app/data/standards.yaml (safe to repeat), and new
versions added by coordinators.

A KSB is keyed on its standard version and code (K1 exists in every standard). Once in Pathways a KSB is
never deleted, because placements, off-the-job hours and reviews point at it: one missing from the file
is reported as a warning and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.content.validation import Fields, Problem, Problems, YamlDocument, decode, load_yaml
from app.extensions import db
from app.models import Ksb, KsbKind, Person, Standard, StandardVersion
from app.services import ServiceError, audit

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "data" / "standards.yaml"
EPA_GRADES = ("fail", "pass", "merit", "distinction")
# From 1 August 2025 a standard's published off-the-job minimum is never below 187 hours.
OTJ_FLOOR = 187
LEVELS = (2, 3, 4, 5, 6, 7)
MAX_DURATION_MONTHS = 72
REFERENCE_PATTERN = re.compile(r"^ST\d{4}$")
VERSION_PATTERN = re.compile(r"^\d{1,3}(\.\d{1,3})?$")
# The file's list for each kind, the letter of its codes, and the kind.
KINDS = (("knowledge", "K", KsbKind.KNOWLEDGE), ("skills", "S", KsbKind.SKILL), ("behaviours", "B", KsbKind.BEHAVIOUR))
KIND_BY_LETTER = {letter: kind for _, letter, kind in KINDS}
KIND_NAMES = {KsbKind.KNOWLEDGE: "knowledge", KsbKind.SKILL: "skill", KsbKind.BEHAVIOUR: "behaviour"}
VERSION_KEYS = ["version", "lars_code", "typical_duration_months", "otj_minimum_hours", "epa_grades",
                "knowledge", "skills", "behaviours"]


@dataclass(frozen=True)
class KsbSpec:
    code: str
    kind: KsbKind
    title: str


@dataclass
class VersionSpec:
    version: str
    lars_code: int | None
    typical_duration_months: int
    otj_minimum_hours: int | None
    epa_grades: list[str]
    ksbs: list[KsbSpec]


@dataclass
class StandardSpec:
    reference: str
    title: str
    level: int
    route: str
    versions: list[VersionSpec]


class StandardsFileInvalid(ServiceError):
    """The standards file has problems; nothing was loaded."""

    def __init__(self, problems: list[Problem]):
        count = len(problems)
        super().__init__(f"{count} problem{'' if count == 1 else 's'} in the standards file; nothing was loaded")
        self.problems = problems


@dataclass
class Tally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def describe(self) -> str:
        return f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged"


@dataclass
class LoadResult:
    standards: Tally = field(default_factory=Tally)
    versions: Tally = field(default_factory=Tally)
    ksbs: Tally = field(default_factory=Tally)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"Standards: {self.standards.describe()}", f"Versions: {self.versions.describe()}",
                f"KSBs: {self.ksbs.describe()}"]


# Reading the file ---------------------------------------------------------------------------------


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_standards(path: Path) -> tuple[list[StandardSpec], list[Problem]]:
    """The standards in the file, and every problem found in it, each with its line."""
    found: list[Problem] = []
    problems = Problems(display_path(path), found)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ServiceError(f"cannot read the standards file {path}: {error.strerror or error}", "file") from None
    text = decode(data, problems)
    doc = load_yaml(text, problems) if text is not None else None
    if doc is None:
        return [], found
    if not isinstance(doc.root, yaml.MappingNode):
        problems.at(doc.root, "the file must start with 'standards:' and a list of standards")
        return [], found
    items = Fields(doc, doc.root, problems, required=["standards"]).sequence("standards")
    specs: list[StandardSpec] = []
    first_line: dict[str, int] = {}
    for number, node in enumerate(items or [], start=1):
        spec = _read_standard(doc, node, number, problems, first_line)
        if spec is not None:
            specs.append(spec)
    return specs, sorted(found, key=lambda p: p.line)


def _read_standard(doc: YamlDocument, node: yaml.Node, number: int, problems: Problems,
                   first_line: dict[str, int]) -> StandardSpec | None:
    if not isinstance(node, yaml.MappingNode):
        problems.at(node, f"standard {number} must be a set of keys: reference, title, level, route and versions")
        return None
    fields = Fields(doc, node, problems, required=["reference", "title", "level", "route", "versions"],
                    where=f" in standard {number}")
    reference = fields.text("reference", max_length=10)
    if reference is not None:
        if not REFERENCE_PATTERN.match(reference):
            fields.fail("reference", f"reference {reference!r} must be ST and four digits, like ST0116")
            reference = None
        elif reference in first_line:
            fields.fail("reference", f"reference {reference} is also used on line {first_line[reference]}")
            reference = None
        else:
            first_line[reference] = fields.line("reference")
    title = fields.text("title", max_length=200)
    level = fields.integer("level", LEVELS[0], LEVELS[-1])
    route = fields.text("route", max_length=100)
    where = f" in {reference or f'standard {number}'}"
    versions: list[VersionSpec] = []
    version_lines: dict[str, int] = {}
    for version_node in fields.sequence("versions") or []:
        spec = _read_version(doc, version_node, problems, where, version_lines)
        if spec is not None:
            versions.append(spec)
    if None in (reference, title, level, route) or not versions:
        return None
    return StandardSpec(reference, title, level, route, versions)


def _read_version(doc: YamlDocument, node: yaml.Node, problems: Problems, where: str,
                  version_lines: dict[str, int]) -> VersionSpec | None:
    if not isinstance(node, yaml.MappingNode):
        problems.at(node, f"each version must be a set of keys: {', '.join(VERSION_KEYS)}{where}")
        return None
    # Problems in a version name it, even a missing key reported before its own fields are read.
    named = next((doc.value(value) for key, value in node.value if doc.value(key) == "version"), None)
    named = named.strip() if isinstance(named, str) and VERSION_PATTERN.match(named.strip()) else None
    named_where = f"{where} v{named}" if named else where
    fields = Fields(doc, node, problems, required=VERSION_KEYS, where=named_where)
    fields.where = where
    version = None
    if fields.has("version"):
        raw = fields.raw("version")
        if not isinstance(raw, str):
            fields.fail("version", f'version must be in quotes, like "1.1", so it is read as text, not {raw!r}')
        elif not VERSION_PATTERN.match(raw.strip()):
            fields.fail("version", f'version {raw!r} must be numbers and a dot, like "1.1"')
        elif raw.strip() in version_lines:
            fields.fail("version", f"version {raw.strip()} is also on line {version_lines[raw.strip()]}")
        else:
            version = raw.strip()
            version_lines[version] = fields.line("version")
    fields.where = where = f"{where} v{version}" if version else where
    lars_code = fields.integer("lars_code", 1, 99999) if fields.raw("lars_code") is not None else None
    duration = fields.integer("typical_duration_months", 1, MAX_DURATION_MONTHS)
    otj_minimum = _otj_minimum(fields)
    grades = _epa_grades(doc, fields, problems)
    ksbs: list[KsbSpec] = []
    complete = True
    for key, letter, kind in KINDS:
        read = _read_ksbs(doc, fields, key, letter, kind, problems)
        complete = complete and read is not None
        ksbs.extend(read or [])
    if version is None or duration is None or otj_minimum is False or grades is None or not complete:
        return None
    return VersionSpec(version, lars_code, duration, otj_minimum, grades, ksbs)


def _otj_minimum(fields: Fields) -> int | None | bool:
    """The published minimum (None when not published), or False when it is wrong."""
    if not fields.has("otj_minimum_hours"):
        return False
    value = fields.raw("otj_minimum_hours")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        fields.fail("otj_minimum_hours", f"otj_minimum_hours must be a whole number of hours or null, not {value!r}")
        return False
    if value < OTJ_FLOOR:
        fields.fail("otj_minimum_hours", f"otj_minimum_hours must be at least {OTJ_FLOOR} (the floor for any "
                                         f"standard), not {value}")
        return False
    if value > 5000:
        fields.fail("otj_minimum_hours", f"otj_minimum_hours must be 5000 or fewer, not {value}")
        return False
    return value


def _epa_grades(doc: YamlDocument, fields: Fields, problems: Problems) -> list[str] | None:
    nodes = fields.sequence("epa_grades")
    if nodes is None:
        return None
    grades: list[str] = []
    for node in nodes:
        grade = doc.value(node)
        if grade not in EPA_GRADES:
            problems.at(node, f"unknown EPA grade {grade!r}: use {', '.join(EPA_GRADES[:-1])} or {EPA_GRADES[-1]}"
                              f"{fields.where}")
            return None
        if grade in grades:
            problems.at(node, f"EPA grade {grade!r} is listed twice{fields.where}")
            return None
        grades.append(grade)
    if "fail" not in grades or "pass" not in grades:
        fields.fail("epa_grades", "epa_grades must include fail and pass")
        return None
    return [g for g in EPA_GRADES if g in grades]


def _read_ksbs(doc: YamlDocument, fields: Fields, key: str, letter: str, kind: KsbKind,
               problems: Problems) -> list[KsbSpec] | None:
    nodes = fields.sequence(key)
    if nodes is None:
        return None
    ksbs = []
    for number, node in enumerate(nodes, start=1):
        expected = f"{letter}{number}"
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            problems.at(node, f"{key} item {number} must be a code and a title, like '{expected}: A short title'"
                              f"{fields.where}")
            return None
        code_node, title_node = node.value[0]
        code = doc.value(code_node)
        if code != expected:
            problems.at(code_node, f"expected {expected} here, not {code!r}: {key} codes run {letter}1, {letter}2, "
                                   f"{letter}3… in order{fields.where}")
            return None
        title = doc.value(title_node)
        if not isinstance(title, str) or not title.strip():
            problems.at(title_node, f"{expected} needs a title{fields.where}")
            return None
        if len(title.strip()) > 300:
            problems.at(title_node, f"the title of {expected} must be 300 characters or fewer{fields.where}")
            return None
        ksbs.append(KsbSpec(expected, kind, " ".join(title.split())))
    return ksbs


# Loading ------------------------------------------------------------------------------------------


def load_standards(path: Path | str | None = None) -> LoadResult:
    """Add or update the standards, versions and KSBs of the file: all or nothing, and safe to repeat."""
    path = Path(path) if path else DEFAULT_FILE
    specs, problems = read_standards(path)
    if problems:
        raise StandardsFileInvalid(problems)
    result = LoadResult()
    existing = {s.reference: s for s in db.session.scalars(
        select(Standard).options(selectinload(Standard.versions).selectinload(StandardVersion.ksbs)))}
    changed: list[tuple[str, StandardVersion]] = []
    for spec in specs:
        standard = existing.get(spec.reference)
        if standard is None:
            standard = Standard(reference=spec.reference, title=spec.title, level=spec.level, route=spec.route)
            db.session.add(standard)
            result.standards.count("added")
        else:
            result.standards.count(_update(standard, title=spec.title, level=spec.level, route=spec.route))
        by_version = {v.version: v for v in standard.versions}
        for version_spec in spec.versions:
            outcome, version = _load_version(standard, by_version.get(version_spec.version), version_spec, result)
            result.versions.count(outcome)
            if outcome != "unchanged":
                changed.append((outcome, version))
    db.session.flush()
    for outcome, version in changed:
        audit.record(None, f"standard_version.{outcome}", version,
                     f"{outcome.capitalize()} {version.standard.reference} v{version.version} from the standards file",
                     ksbs=len(version.ksbs))
    return result


def _update(row, **values) -> str:
    if all(getattr(row, name) == value for name, value in values.items()):
        return "unchanged"
    for name, value in values.items():
        setattr(row, name, value)
    return "updated"


def _load_version(standard: Standard, version: StandardVersion | None, spec: VersionSpec,
                  result: LoadResult) -> tuple[str, StandardVersion]:
    details = {"lars_code": spec.lars_code, "typical_duration_months": spec.typical_duration_months,
               "otj_minimum_hours": spec.otj_minimum_hours, "epa_grades": spec.epa_grades}
    if version is None:
        version = StandardVersion(standard=standard, version=spec.version, **details)
        db.session.add(version)
        _add_ksbs(version, spec.ksbs)
        result.ksbs.added += len(spec.ksbs)
        return "added", version
    outcome = _update(version, **details)
    by_code = {k.code: k for k in version.ksbs}
    for position, ksb_spec in enumerate(spec.ksbs, start=1):
        ksb = by_code.pop(ksb_spec.code, None)
        if ksb is None:
            version.ksbs.append(Ksb(code=ksb_spec.code, kind=ksb_spec.kind, position=position, title=ksb_spec.title))
            ksb_outcome = "added"
        else:
            ksb_outcome = _update(ksb, kind=ksb_spec.kind, position=position, title=ksb_spec.title)
        result.ksbs.count(ksb_outcome)
        if ksb_outcome != "unchanged":
            outcome = "updated"
    for code in sorted(by_code, key=code_key):
        result.warnings.append(f"{standard.reference} v{version.version}: {code} is in Pathways but not in the file; "
                               "it was kept, as records may point at it")
    return outcome, version


def _add_ksbs(version: StandardVersion, ksbs: list[KsbSpec]) -> None:
    for position, spec in enumerate(ksbs, start=1):
        version.ksbs.append(Ksb(code=spec.code, kind=spec.kind, position=position, title=spec.title))


def code_key(code: str) -> tuple[int, int]:
    letters = "KSB"
    return (letters.index(code[0]) if code[:1] in letters else 3, int(code[1:]) if code[1:].isdigit() else 0)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


# Reading standards for pages and the CLI -------------------------------------------------------------


@dataclass
class StandardRow:
    standard: Standard
    versions: list[str]
    ksb_count: int  # in the current version


def latest_version(standard: Standard) -> StandardVersion | None:
    """The current version: the highest version number."""
    return max(standard.versions, key=lambda v: version_key(v.version), default=None)


def list_standards() -> list[StandardRow]:
    """Every standard with its versions and the KSB count of its current version, in two queries."""
    standards = db.session.scalars(select(Standard).order_by(Standard.reference)).all()
    counts = db.session.execute(
        select(StandardVersion.standard_id, StandardVersion.version, func.count(Ksb.id))
        .outerjoin(Ksb, Ksb.standard_version_id == StandardVersion.id)
        .group_by(StandardVersion.id, StandardVersion.standard_id, StandardVersion.version)
    ).all()
    by_standard: dict[int, list[tuple[str, int]]] = {}
    for standard_id, version, ksbs in counts:
        by_standard.setdefault(standard_id, []).append((version, ksbs))
    rows = []
    for standard in standards:
        versions = sorted(by_standard.get(standard.id, []), key=lambda v: version_key(v[0]))
        rows.append(StandardRow(standard, [v for v, _ in versions], versions[-1][1] if versions else 0))
    return rows


def get_standard(standard_id: int) -> Standard | None:
    return db.session.scalar(select(Standard).where(Standard.id == standard_id).options(
        selectinload(Standard.versions).selectinload(StandardVersion.ksbs)))


def versions_newest_first(standard: Standard) -> list[StandardVersion]:
    return sorted(standard.versions, key=lambda v: version_key(v.version), reverse=True)


def ksbs_by_kind(version: StandardVersion) -> dict[KsbKind, list[Ksb]]:
    grouped: dict[KsbKind, list[Ksb]] = {kind: [] for kind in KsbKind}
    for ksb in version.ksbs:
        grouped[ksb.kind].append(ksb)
    return grouped


def ksb_text_for(version: StandardVersion | None) -> str:
    """The KSBs of ``version`` as the add-a-version form takes them: one a line, code then title."""
    if version is None:
        return ""
    return "\n".join(f"{ksb.code} {ksb.title}" for ksb in sorted(version.ksbs, key=lambda k: code_key(k.code)))


# Coordinators add a version -----------------------------------------------------------------------

KSB_LINE = re.compile(r"^([KSB])(\d{1,3})(?!\d)[\s:.\-–—]*(.*)$", re.IGNORECASE)
KSB_EXAMPLE = "'K1 Stages of the software development life cycle'"


class StandardVersionInvalid(ServiceError):
    """Everything wrong with a new version, one refusal per field."""

    def __init__(self, errors: list[ServiceError]):
        super().__init__(errors[0].message, errors[0].field)
        self.errors = errors


def parse_ksb_text(text: str | None) -> list[KsbSpec]:
    """KSBs typed one a line, like 'K1 Stages of the software development life cycle'; each kind's codes run
    from 1 without gaps, and a version needs at least one knowledge, skill and behaviour."""
    found: dict[str, list[KsbSpec]] = {letter: [] for _, letter, _ in KINDS}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = KSB_LINE.match(line.strip())
        if match is None:
            raise ServiceError(f"Line {number} must start with a code such as K1, S1 or B1 and then the title, "
                               f"like {KSB_EXAMPLE}", "ksb_text")
        letter, title = match.group(1).upper(), " ".join(match.group(3).split())
        code, expected = f"{letter}{int(match.group(2))}", f"{letter}{len(found[letter]) + 1}"
        if code != expected:
            raise ServiceError(f"Line {number}: expected {expected} next, not {code}; number each kind from "
                               f"{letter}1 without gaps", "ksb_text")
        if not title:
            raise ServiceError(f"Line {number}: enter a title after {code}", "ksb_text")
        if len(title) > 300:
            raise ServiceError(f"Line {number}: the title of {code} must be 300 characters or fewer", "ksb_text")
        found[letter].append(KsbSpec(code, KIND_BY_LETTER[letter], title))
    if not any(found.values()):
        raise ServiceError(f"Enter the KSBs, one a line, like {KSB_EXAMPLE}", "ksb_text")
    missing = [f"one {KIND_NAMES[kind]} ({letter}1)" for _, letter, kind in KINDS if not found[letter]]
    if missing:
        raise ServiceError(f"Add at least {' and '.join(missing)}", "ksb_text")
    return [ksb for _, letter, _ in KINDS for ksb in found[letter]]


def add_standard_version(
    actor: Person | None, *, standard: Standard | None = None, reference: str | None = None,
    title: str | None = None, level: int | None = None, route: str | None = None, version: str,
    lars_code: int | None, typical_duration_months: int | None, otj_minimum_hours: int | None,
    epa_grades: list[str], ksb_text: str,
) -> StandardVersion:
    """Add a version of ``standard``, or (without one) a new standard with its first version. Raises
    ``StandardVersionInvalid`` naming every field at fault; nothing is saved then."""
    errors: list[ServiceError] = []

    def refuse(message: str, field_name: str) -> None:
        errors.append(ServiceError(message, field_name))

    if standard is None:
        reference, title, route = (" ".join((value or "").split()) for value in (reference, title, route))
        reference = reference.upper()
        if not REFERENCE_PATTERN.match(reference):
            refuse("Enter the reference as ST and four digits, like ST0116", "reference")
        elif db.session.scalar(select(Standard.id).where(Standard.reference == reference)):
            refuse(f"{reference} is already in Pathways: add a version to it from its page", "reference")
        if not title or len(title) > 200:
            refuse("Enter the standard's title, in 200 characters or fewer, like Software developer", "title")
        if level not in LEVELS:
            refuse("Select the standard's level", "level")
        if not route or len(route) > 100:
            refuse("Enter the standard's route, in 100 characters or fewer, like Digital", "route")
    version = (version or "").strip()
    if not VERSION_PATTERN.match(version):
        refuse("Enter the version number, like 1.1", "version")
    elif standard is not None and any(v.version == version for v in standard.versions):
        refuse(f"{standard.reference} already has version {version}: enter a new version number", "version")
    if lars_code is not None and not 1 <= lars_code <= 99999:
        refuse("The LARS code must be a number from 1 to 99999", "lars_code")
    if typical_duration_months is None:
        refuse("Enter the typical duration in months, like 24", "typical_duration_months")
    elif not 1 <= typical_duration_months <= MAX_DURATION_MONTHS:
        refuse(f"The typical duration must be from 1 to {MAX_DURATION_MONTHS} months", "typical_duration_months")
    if otj_minimum_hours is not None and not OTJ_FLOOR <= otj_minimum_hours <= 5000:
        refuse(f"The published off-the-job minimum must be from {OTJ_FLOOR} to 5000 hours, or left empty when none "
               "is published", "otj_minimum_hours")
    grades = list(epa_grades or [])
    if any(grade not in EPA_GRADES for grade in grades) or "fail" not in grades or "pass" not in grades:
        refuse("Select the grades the end-point assessment allows, including fail and pass", "epa_grades")
    try:
        ksbs = parse_ksb_text(ksb_text)
    except ServiceError as error:
        errors.append(error)
    if errors:
        raise StandardVersionInvalid(errors)

    if standard is None:
        standard = Standard(reference=reference, title=title, level=level, route=route)
        db.session.add(standard)
        db.session.flush()
        audit.record(actor, "standard.added", standard, f"Added the standard {reference} {title}")
    added = StandardVersion(standard=standard, version=version, lars_code=lars_code,
                            typical_duration_months=typical_duration_months, otj_minimum_hours=otj_minimum_hours,
                            epa_grades=[g for g in EPA_GRADES if g in grades],
                            created_by_id=actor.id if actor is not None else None)
    db.session.add(added)
    _add_ksbs(added, ksbs)
    db.session.flush()
    audit.record(actor, "standard_version.added", added, f"Added {standard.reference} v{version} with {len(ksbs)} KSBs",
                 ksbs=[k.code for k in ksbs])
    return added
