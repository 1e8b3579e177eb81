"""Apprenticeship standards: loading the standards file (idempotent, every problem named by file and line),
the `flask standards` commands, the pages, and coordinators adding a standard or a new version."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Ksb, KsbKind, Role, Standard, StandardVersion
from app.services import ServiceError
from app.services.standards import (
    DEFAULT_FILE,
    StandardsFileInvalid,
    StandardVersionInvalid,
    add_standard_version,
    load_standards,
    parse_ksb_text,
)
from tests.apprenticeship_factories import make_coordinator, make_standard_version
from tests.conftest import csrf_token, make_person, post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

GOOD = """\
standards:
  - reference: ST0128
    title: Software development technician
    level: 3
    route: Digital
    versions:
      - version: "1.0"
        lars_code: 154
        typical_duration_months: 18
        otj_minimum_hours: 326
        epa_grades: [fail, pass, distinction]
        knowledge:
          - K1: How code is built and tested
          - K2: Version control
        skills:
          - S1: Writes simple code
        behaviours:
          - B1: Works well in a team
"""

SECOND_STANDARD = """\
  - reference: ST0128
    title: Another standard
    level: 3
    route: Digital
    versions: []
"""

SECOND_VERSION = """\
      - version: "1.0"
        lars_code: null
        typical_duration_months: 18
        otj_minimum_hours: null
        epa_grades: [fail, pass]
        knowledge: [{K1: Something}]
        skills: [{S1: Something}]
        behaviours: [{B1: Something}]
"""


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def write(tmp_path, text: str, name: str = "standards.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_summary(response) -> list[str]:
    block = re.search(r'<div class="govuk-error-summary".*?</ul>', html_of(response), re.S)
    if not block:
        return []
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)]


# Loading the file ----------------------------------------------------------------------------------


def test_loading_twice_adds_once_and_then_changes_nothing(tmp_path):
    path = write(tmp_path, GOOD)

    first = load_standards(path)
    db.session.commit()
    second = load_standards(path)
    db.session.commit()

    assert (first.standards.added, first.versions.added, first.ksbs.added) == (1, 1, 4)
    assert first.lines() == ["Standards: 1 added, 0 updated, 0 unchanged", "Versions: 1 added, 0 updated, 0 unchanged",
                             "KSBs: 4 added, 0 updated, 0 unchanged"]
    assert second.lines() == ["Standards: 0 added, 0 updated, 1 unchanged",
                              "Versions: 0 added, 0 updated, 1 unchanged", "KSBs: 0 added, 0 updated, 4 unchanged"]
    assert second.warnings == []
    version = db.session.scalar(select(StandardVersion))
    assert (version.standard.reference, version.standard.title, version.standard.level, version.version,
            version.lars_code, version.typical_duration_months, version.otj_minimum_hours, version.epa_grades) == (
        "ST0128", "Software development technician", 3, "1.0", 154, 18, 326, ["fail", "pass", "distinction"])
    assert [(k.code, k.kind, k.position, k.title) for k in version.ksbs] == [
        ("K1", KsbKind.KNOWLEDGE, 1, "How code is built and tested"), ("K2", KsbKind.KNOWLEDGE, 2, "Version control"),
        ("S1", KsbKind.SKILL, 3, "Writes simple code"), ("B1", KsbKind.BEHAVIOUR, 4, "Works well in a team")]
    # The load is audited once, when the version arrived.
    assert [e.action for e in db.session.scalars(select(AuditEvent))] == ["standard_version.added"]


def test_changed_titles_and_details_are_updated_in_place(tmp_path):
    load_standards(write(tmp_path, GOOD))
    db.session.commit()
    ksb_ids = {k.code: k.id for k in db.session.scalars(select(Ksb))}

    changed = GOOD.replace("K2: Version control", "K2: Version control with Git").replace(
        "typical_duration_months: 18", "typical_duration_months: 20").replace(
        "title: Software development technician", "title: Software developer technician").replace(
        "          - B1: Works well in a team\n",
        "          - B1: Works well in a team\n          - B2: Keeps learning\n")
    result = load_standards(write(tmp_path, changed))
    db.session.commit()

    assert result.lines() == ["Standards: 0 added, 1 updated, 0 unchanged", "Versions: 0 added, 1 updated, 0 unchanged",
                              "KSBs: 1 added, 1 updated, 3 unchanged"]
    version = db.session.scalar(select(StandardVersion))
    assert version.typical_duration_months == 20 and version.standard.title == "Software developer technician"
    by_code = {k.code: k for k in version.ksbs}
    assert by_code["K2"].title == "Version control with Git"
    assert by_code["K2"].id == ksb_ids["K2"]  # updated, not replaced: records pointing at it still do
    assert by_code["B2"].position == 5


def test_a_ksb_missing_from_the_file_is_kept_and_reported(tmp_path):
    load_standards(write(tmp_path, GOOD))
    db.session.commit()

    result = load_standards(write(tmp_path, GOOD.replace("          - K2: Version control\n", "")))
    db.session.commit()

    assert result.warnings == ["ST0128 v1.0: K2 is in Pathways but not in the file; it was kept, as records may "
                               "point at it"]
    assert count(Ksb) == 4


def test_a_new_version_in_the_file_is_added_beside_the_old_one(tmp_path):
    load_standards(write(tmp_path, GOOD))
    db.session.commit()
    result = load_standards(write(tmp_path, GOOD + SECOND_VERSION.replace('"1.0"', '"1.1"')))
    db.session.commit()
    assert (result.versions.added, result.versions.unchanged, result.ksbs.added) == (1, 1, 3)
    assert sorted(v.version for v in db.session.scalars(select(StandardVersion))) == ["1.0", "1.1"]


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("    route: Digital\n", "", 2, "missing key 'route' in standard 1"),
    ("level: 3", "level: three", 4, "level must be a whole number from 2 to 7, not 'three' in standard 1"),
    ("level: 3", "level: 9", 4, "level must be a whole number from 2 to 7, not 9 in standard 1"),
    ("reference: ST0128", "reference: 128", 2, "reference must be text in standard 1"),
    ("reference: ST0128", "reference: XX0128", 2,
     "reference 'XX0128' must be ST and four digits, like ST0116 in standard 1"),
    ('version: "1.0"', "version: 1.0", 7,
     'version must be in quotes, like "1.1", so it is read as text, not 1.0 in ST0128'),
    ("typical_duration_months: 18", "typical_duration_months: eighteen", 9,
     "typical_duration_months must be a whole number from 1 to 72, not 'eighteen' in ST0128 v1.0"),
    ("lars_code: 154", "lars_code: 1.5", 8, "lars_code must be a whole number from 1 to 99999, not 1.5 in ST0128 v1.0"),
    ("otj_minimum_hours: 326", "otj_minimum_hours: 150", 10,
     "otj_minimum_hours must be at least 187 (the floor for any standard), not 150 in ST0128 v1.0"),
    ("otj_minimum_hours: 326", "otj_minimum_hours: lots", 10,
     "otj_minimum_hours must be a whole number of hours or null, not 'lots' in ST0128 v1.0"),
    ("        otj_minimum_hours: 326\n", "", 7, "missing key 'otj_minimum_hours' in ST0128 v1.0"),
    ("[fail, pass, distinction]", "[fail, pass, excellent]", 11,
     "unknown EPA grade 'excellent': use fail, pass, merit or distinction in ST0128 v1.0"),
    ("[fail, pass, distinction]", "[pass, distinction]", 11, "epa_grades must include fail and pass in ST0128 v1.0"),
    ("[fail, pass, distinction]", "[fail, pass, pass]", 11, "EPA grade 'pass' is listed twice in ST0128 v1.0"),
    ("- K2: Version control", "- K3: Version control", 14,
     "expected K2 here, not 'K3': knowledge codes run K1, K2, K3… in order in ST0128 v1.0"),
    ("- K2: Version control", "- K1: Version control", 14,
     "expected K2 here, not 'K1': knowledge codes run K1, K2, K3… in order in ST0128 v1.0"),
    ("- S1: Writes simple code", "- K1: Writes simple code", 16,
     "expected S1 here, not 'K1': skills codes run S1, S2, S3… in order in ST0128 v1.0"),
    ("- B1: Works well in a team", "- B1:", 18, "B1 needs a title in ST0128 v1.0"),
    ("- B1: Works well in a team", "- Works well in a team", 18,
     "behaviours item 1 must be a code and a title, like 'B1: A short title' in ST0128 v1.0"),
    ("        skills:\n          - S1: Writes simple code\n", "        skills: []\n", 15,
     "skills is empty: give at least one in ST0128 v1.0"),
    ("    route: Digital\n", "    route: Digital\n    colour: blue\n", 6, "unknown key 'colour' in standard 1"),
    ("title: Software development technician", "title: [Software]", 3, "title must be text in standard 1"),
    ("standards:\n", "standard:\n", 1, "unknown key 'standard'"),
    ("    level: 3\n", "    level: 3\n   bad: [\n", 5, "invalid YAML: did not find expected '-' indicator"),
])
def test_every_problem_in_the_file_is_named_with_its_file_and_line(tmp_path, old, new, line, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))

    with pytest.raises(StandardsFileInvalid) as raised:
        load_standards(path)

    problems = [str(p) for p in raised.value.problems]
    assert any(p.startswith(f"{path}:{line}: {message}") for p in problems), problems
    assert count(Standard) == 0 and count(Ksb) == 0


def test_duplicate_references_and_versions_are_refused_naming_the_first(tmp_path):
    path = write(tmp_path, GOOD + SECOND_STANDARD + GOOD.removeprefix("standards:\n").replace("ST0128", "ST0129")
                 + SECOND_VERSION)

    with pytest.raises(StandardsFileInvalid) as raised:
        load_standards(path)

    assert [str(p) for p in raised.value.problems] == [
        f"{path}:19: reference ST0128 is also used on line 2 in standard 2",
        f"{path}:23: versions is empty: give at least one in standard 2",
        f"{path}:41: version 1.0 is also on line 29 in ST0129",
    ]


def test_a_file_with_problems_loads_nothing_even_where_other_standards_are_fine(tmp_path):
    text = GOOD + GOOD.removeprefix("standards:\n").replace("ST0128", "ST0129").replace("level: 3", "level: 1")
    with pytest.raises(StandardsFileInvalid):
        load_standards(write(tmp_path, text))
    assert count(Standard) == 0 and count(StandardVersion) == 0


@pytest.mark.skipif(not DEFAULT_FILE.exists(), reason="app/data/standards.yaml is not there yet")
def test_the_reference_standards_load_cleanly_and_only_once():
    first = load_standards()
    db.session.commit()
    second = load_standards()
    db.session.commit()

    assert first.warnings == [] and first.standards.added >= 1
    assert (second.standards.added, second.versions.added, second.ksbs.added) == (0, 0, 0)
    assert (second.standards.updated, second.versions.updated, second.ksbs.updated) == (0, 0, 0)
    for version in db.session.scalars(select(StandardVersion)):
        kinds = {k.kind for k in version.ksbs}
        assert kinds == set(KsbKind), version.label
        assert version.otj_minimum_hours is None or version.otj_minimum_hours >= 187


def test_the_reference_file_holds_the_digital_standards_whose_ksbs_were_checked():
    load_standards()
    references = set(db.session.scalars(select(Standard.reference)))
    # Each entered only where its full KSB list could be checked against published sources.
    assert references >= {"ST0116", "ST0118", "ST0825", "ST1386"}, sorted(references)
    developer = db.session.scalar(select(StandardVersion).join(Standard).where(Standard.reference == "ST0116"))
    assert [sum(1 for k in developer.ksbs if k.kind is kind) for kind in KsbKind] == [12, 17, 9]


# The commands -------------------------------------------------------------------------------------


def test_the_load_command_prints_the_counts(runner, tmp_path):
    path = write(tmp_path, GOOD)

    first = runner.invoke(args=["standards", "load", "--file", str(path)])
    second = runner.invoke(args=["standards", "load", "--file", str(path)])

    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines() == ["Standards: 1 added, 0 updated, 0 unchanged",
                                         "Versions: 1 added, 0 updated, 0 unchanged",
                                         "KSBs: 4 added, 0 updated, 0 unchanged"]
    assert second.exit_code == 0
    assert "KSBs: 0 added, 0 updated, 4 unchanged" in second.stdout
    assert count(Ksb) == 4


def test_the_load_command_names_every_problem_on_stderr_and_loads_nothing(runner, tmp_path):
    path = write(tmp_path, GOOD.replace("otj_minimum_hours: 326", "otj_minimum_hours: 100").replace(
        "- K2: Version control", "- K4: Version control"))

    result = runner.invoke(args=["standards", "load", "--file", str(path)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:10: otj_minimum_hours must be at least 187 (the floor for any standard), not 100 in ST0128 v1.0",
        f"{path}:14: expected K2 here, not 'K4': knowledge codes run K1, K2, K3… in order in ST0128 v1.0",
        "Error: 2 problems in the standards file; nothing was loaded",
    ]
    assert count(Standard) == 0


def test_the_load_command_reports_a_missing_file_and_warnings(runner, tmp_path):
    missing = runner.invoke(args=["standards", "load", "--file", str(tmp_path / "nowhere.yaml")])
    assert missing.exit_code == 1
    assert "cannot read the standards file" in missing.stderr

    runner.invoke(args=["standards", "load", "--file", str(write(tmp_path, GOOD))])
    result = runner.invoke(args=["standards", "load", "--file",
                                 str(write(tmp_path, GOOD.replace("          - K2: Version control\n", "")))])
    assert result.exit_code == 0
    assert "Warning: ST0128 v1.0: K2 is in Pathways but not in the file" in result.stderr


@pytest.mark.skipif(not DEFAULT_FILE.exists(), reason="app/data/standards.yaml is not there yet")
def test_the_load_command_reads_the_reference_file_by_default(runner):
    result = runner.invoke(args=["standards", "load"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.startswith("Standards: ")
    assert count(Standard) >= 1


def test_the_list_command(runner, tmp_path):
    runner.invoke(args=["standards", "load", "--file", str(write(tmp_path, GOOD))])
    result = runner.invoke(args=["standards", "list"])
    assert result.exit_code == 0
    assert result.stdout.strip() == ("ST0128   level 3  Software development technician (versions: 1.0; 4 KSBs in "
                                     "the current version)")


# Typed KSBs ---------------------------------------------------------------------------------------


def test_ksbs_typed_one_a_line_are_read_in_kind_order():
    ksbs = parse_ksb_text("K1 Stages of the life cycle\r\nS1: Writes code\n\n  k2 - Databases  \nB1 Keeps learning\n")
    assert [(k.code, k.kind, k.title) for k in ksbs] == [
        ("K1", KsbKind.KNOWLEDGE, "Stages of the life cycle"), ("K2", KsbKind.KNOWLEDGE, "Databases"),
        ("S1", KsbKind.SKILL, "Writes code"), ("B1", KsbKind.BEHAVIOUR, "Keeps learning")]


@pytest.mark.parametrize(("text", "message"), [
    ("", "Enter the KSBs, one a line, like 'K1 Stages of the software development life cycle'"),
    ("K1 A\nS1 B\nB2 C", "Line 3: expected B1 next, not B2; number each kind from B1 without gaps"),
    ("K1 A\nK1 A again\nS1 B\nB1 C", "Line 2: expected K2 next, not K1; number each kind from K1 without gaps"),
    ("K1 A\nS1\nB1 C", "Line 2: enter a title after S1"),
    ("K1 A\nSkills: writing\nB1 C", "Line 2 must start with a code such as K1, S1 or B1 and then the title, like "
                                    "'K1 Stages of the software development life cycle'"),
    ("K1 A\nS1 B", "Add at least one behaviour (B1)"),
    ("B1 C", "Add at least one knowledge (K1) and one skill (S1)"),
    ("K1 " + "x" * 301 + "\nS1 B\nB1 C", "Line 1: the title of K1 must be 300 characters or fewer"),
])
def test_typed_ksbs_are_checked(text, message):
    with pytest.raises(ServiceError) as raised:
        parse_ksb_text(text)
    assert raised.value.message == message
    assert raised.value.field == "ksb_text"


def test_the_service_names_every_field_at_fault_at_once():
    standard = make_standard_version("ST0116").standard
    with pytest.raises(StandardVersionInvalid) as raised:
        add_standard_version(None, standard=standard, version="1.1", lars_code=0, typical_duration_months=None,
                             otj_minimum_hours=100, epa_grades=["pass"], ksb_text="K1 A")
    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("version", "ST0116 already has version 1.1: enter a new version number"),
        ("lars_code", "The LARS code must be a number from 1 to 99999"),
        ("typical_duration_months", "Enter the typical duration in months, like 24"),
        ("otj_minimum_hours", "The published off-the-job minimum must be from 187 to 5000 hours, or left empty when "
                              "none is published"),
        ("epa_grades", "Select the grades the end-point assessment allows, including fail and pass"),
        ("ksb_text", "Add at least one skill (S1) and one behaviour (B1)"),
    ]


# Pages ----------------------------------------------------------------------------------------------


@pytest.fixture
def coordinator(client):
    person = make_coordinator(scope=("E09000012",))
    sign_in(client, person)
    return person


def test_the_list_of_standards(client, coordinator, tmp_path):
    load_standards(write(tmp_path, GOOD + SECOND_VERSION.replace('"1.0"', '"1.1"')))
    make_standard_version("ST0116", knowledge=12, skills=17, behaviours=9)
    db.session.commit()

    page = client.get("/standards")

    assert page.status_code == 200
    assert page_title(page) == "Apprenticeship standards – Pathways"
    text = text_of(page)
    assert "2 standards" in text
    assert "ST0116 Software developer 4 1.1 38" in text
    # The KSB count is the current version's (1.1 has three; 1.0 four).
    assert "ST0128 Software development technician 3 1.0, 1.1 3" in text


def test_a_standard_shows_each_version_with_its_ksbs_by_kind(client, coordinator, tmp_path):
    load_standards(write(tmp_path, GOOD + SECOND_VERSION.replace('"1.0"', '"1.1"')))
    db.session.commit()
    standard = db.session.scalar(select(Standard))

    page = client.get(f"/standards/{standard.id}")

    assert page.status_code == 200
    assert page_title(page) == "Software development technician (ST0128) – Pathways"
    text = text_of(page)
    assert text.index("Version 1.1 (current)") < text.index("Version 1.0")
    assert "Knowledge (2) Code Title K1 How code is built and tested K2 Version control" in text
    assert "Skills (1) Code Title S1 Writes simple code" in text
    assert "Behaviours (1) Code Title B1 Works well in a team" in text
    assert "Published minimum off-the-job hours 326 hours" in text
    assert "End-point assessment grades Fail, Pass, Distinction" in text
    assert client.get("/standards/999999").status_code == 404


NEW_STANDARD = {"reference": "st0795", "title": "Data technician", "level": "3", "route": "Digital",
                "version": "1.0", "lars_code": "576", "typical_duration_months": "24", "otj_minimum_hours": "",
                "epa_grades": ["fail", "pass", "distinction"],
                "ksb_text": "K1 Data sources and formats\nK2 Data protection law\nS1 Cleans data\nB1 Works securely"}


def test_a_coordinator_adds_a_standard_with_its_first_version(client, coordinator):
    page = client.get("/standards/new")
    assert page.status_code == 200 and page_title(page) == "Add a standard – Pathways"

    response = post_form(client, "/standards/new", NEW_STANDARD)

    standard = db.session.scalar(select(Standard))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/standards/{standard.id}"
    version = standard.versions[0]
    assert (standard.reference, standard.title, standard.level, standard.route) == (
        "ST0795", "Data technician", 3, "Digital")
    assert (version.version, version.lars_code, version.typical_duration_months, version.otj_minimum_hours,
            version.epa_grades, version.created_by_id) == ("1.0", 576, 24, None, ["fail", "pass", "distinction"],
                                                           coordinator.id)
    assert [k.code for k in version.ksbs] == ["K1", "K2", "S1", "B1"]
    assert [(e.action, e.actor_id) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("standard%")).order_by(AuditEvent.id))] == [
        ("standard.added", coordinator.id), ("standard_version.added", coordinator.id)]
    assert "Data technician (ST0795) has been added, with version 1.0 and its 4 KSBs." in text_of(
        client.get(response.headers["Location"]))


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"reference": ""}, "reference", "Enter the reference as ST and four digits, like ST0116"),
    ({"reference": "ST95"}, "reference", "Enter the reference as ST and four digits, like ST0116"),
    ({"reference": "ST0116"}, "reference", "ST0116 is already in Pathways: add a version to it from its page"),
    ({"title": " "}, "title", "Enter the standard's title, like Software developer"),
    ({"level": None}, "level", "Select the standard's level"),
    ({"level": "9"}, "level", "Select the standard's level"),
    ({"route": ""}, "route", "Enter the standard's route, like Digital"),
    ({"version": ""}, "version", "Enter the version number, like 1.1"),
    ({"version": "one"}, "version", "Enter the version number, like 1.1"),
    ({"lars_code": "abc"}, "lars_code", "The LARS code must be a whole number, like 154"),
    ({"typical_duration_months": ""}, "typical_duration_months", "Enter the typical duration in months, like 24"),
    ({"typical_duration_months": "two years"}, "typical_duration_months",
     "The typical duration in months must be a whole number, like 24"),
    ({"typical_duration_months": "100"}, "typical_duration_months", "The typical duration must be from 1 to 72 months"),
    ({"otj_minimum_hours": "150"}, "otj_minimum_hours",
     "The published off-the-job minimum must be from 187 to 5000 hours, or left empty when none is published"),
    ({"epa_grades": None}, "epa_grades",
     "Select the grades the end-point assessment allows, including fail and pass"),
    ({"epa_grades": ["pass", "merit"]}, "epa_grades",
     "Select the grades the end-point assessment allows, including fail and pass"),
    ({"epa_grades": ["fail", "pass", "outstanding"]}, "epa_grades",
     "Select the grades the end-point assessment allows, including fail and pass"),
    ({"ksb_text": ""}, "ksb_text",
     "Enter the KSBs, one a line, like 'K1 Stages of the software development life cycle'"),
    ({"ksb_text": "K1 A\nK3 B\nS1 C\nB1 D"}, "ksb_text",
     "Line 2: expected K2 next, not K3; number each kind from K1 without gaps"),
    ({"ksb_text": "K1 A\nS1 C"}, "ksb_text", "Add at least one behaviour (B1)"),
    ({"ksb_text": "K1\nS1 C\nB1 D"}, "ksb_text", "Line 1: enter a title after K1"),
])
def test_bad_standard_details_are_explained_beside_the_field(client, coordinator, overrides, field, message):
    make_standard_version("ST0116")
    data = {**NEW_STANDARD, **overrides}
    response = post_form(client, "/standards/new", {k: v for k, v in data.items() if v is not None})

    assert response.status_code == 200
    assert field_error(response, field) == message
    assert message in error_summary(response)
    assert page_title(response) == "Error: Add a standard – Pathways"
    assert count(Standard) == 1


def test_several_problems_are_all_shown_in_page_order(client, coordinator):
    make_standard_version("ST0116")
    response = post_form(client, "/standards/new", {**NEW_STANDARD, "reference": "ST0116", "version": "x",
                                                    "otj_minimum_hours": "10", "ksb_text": "K1 A"})
    assert error_summary(response) == [
        "ST0116 is already in Pathways: add a version to it from its page",
        "Enter the version number, like 1.1",
        "The published off-the-job minimum must be from 187 to 5000 hours, or left empty when none is published",
        "Add at least one skill (S1) and one behaviour (B1)",
    ]


def test_a_coordinator_adds_a_version_copying_the_current_ksbs(client, coordinator, tmp_path):
    load_standards(write(tmp_path, GOOD))
    db.session.commit()
    standard = db.session.scalar(select(Standard))
    path = f"/standards/{standard.id}/versions/new"

    blank = client.get(path)
    assert page_title(blank) == "Add a version of Software development technician – Pathways"
    assert "Copy the details and KSBs from version 1.0" in text_of(blank)
    assert f'href="{path}?copy=yes"' in html_of(blank)
    assert "How code is built" not in html_of(blank)

    copied = client.get(f"{path}?copy=yes")
    html = html_of(copied)
    textarea = re.search(r'<textarea[^>]*name="ksb_text"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert unescape(textarea).strip() == ("K1 How code is built and tested\nK2 Version control\nS1 Writes simple code\n"
                                          "B1 Works well in a team")
    assert re.search(r'name="typical_duration_months"[^>]*value="18"', html)
    assert re.search(r'name="epa_grades"[^>]*value="distinction"[^>]*checked', html)

    response = post_form(client, path, {
        "version": "1.1", "lars_code": "154", "typical_duration_months": "18", "otj_minimum_hours": "326",
        "epa_grades": ["fail", "pass", "merit", "distinction"],
        "ksb_text": unescape(textarea).strip() + "\nK3 Databases"})

    assert response.status_code == 302 and response.headers["Location"] == f"/standards/{standard.id}"
    version = db.session.scalar(select(StandardVersion).where(StandardVersion.version == "1.1"))
    assert [k.code for k in version.ksbs] == ["K1", "K2", "K3", "S1", "B1"]
    assert version.epa_grades == ["fail", "pass", "merit", "distinction"]
    assert version.created_by_id == coordinator.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "standard_version.added",
                                                       AuditEvent.actor_id == coordinator.id))
    assert event.subject_id == version.id and event.details["ksbs"] == ["K1", "K2", "K3", "S1", "B1"]
    page = client.get(f"/standards/{standard.id}")
    assert "Version 1.1 of Software development technician has been added, with its 5 KSBs." in text_of(page)
    assert "Version 1.1 (current)" in text_of(page)


def test_a_version_number_already_used_is_refused(client, coordinator):
    standard = make_standard_version("ST0116", version="1.1").standard
    response = post_form(client, f"/standards/{standard.id}/versions/new", {
        "version": "1.1", "typical_duration_months": "24", "epa_grades": ["fail", "pass"],
        "ksb_text": "K1 A\nS1 B\nB1 C"})
    assert response.status_code == 200
    assert field_error(response, "version") == "ST0116 already has version 1.1: enter a new version number"
    assert count(StandardVersion) == 1
    assert client.get("/standards/999999/versions/new").status_code == 404


# Access ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [(Role.LEARNER,), (Role.APPRENTICE,), (Role.SUPERVISOR,)])
def test_only_coordinators_and_admins_see_and_add_standards(client, roles):
    standard = make_standard_version("ST0116").standard
    sign_in(client, make_person("someone@example.org", roles=roles))
    paths = ("/standards", f"/standards/{standard.id}", "/standards/new", f"/standards/{standard.id}/versions/new")
    for path in paths:
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/")
    assert client.post("/standards/new", data={**NEW_STANDARD, "csrf_token": token}).status_code == 403
    assert client.post(paths[3], data={**NEW_STANDARD, "version": "2.0", "csrf_token": token}).status_code == 403
    assert count(Standard) == 1 and count(StandardVersion) == 1


def test_anonymous_people_are_sent_to_sign_in(client):
    standard = make_standard_version("ST0116").standard
    for path in ("/standards", f"/standards/{standard.id}", "/standards/new", f"/standards/{standard.id}/versions/new"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/sign-in" in response.headers["Location"]


def test_admins_manage_standards(client, signed_in_admin):
    assert client.get("/standards").status_code == 200
    assert post_form(client, "/standards/new", NEW_STANDARD).status_code == 302
