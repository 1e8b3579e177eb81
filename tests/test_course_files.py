"""Course files: every problem named as path:line: message, and lesson Markdown made safe."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.content import read_courses
from app.content.markdown import render

ROOT = Path(__file__).resolve().parent.parent

COURSE_YAML = """\
slug: {slug}
title: Test course
summary: A short summary.
audience: Testers.
level: introductory
estimated_hours: 2
cpd_hours: 1.5
topics: [testing]
learning_outcomes:
  - Write a test
completion:
  lessons: all
  checks: all
certificate: true
"""

FIRST_LESSON = """\
# First steps

Some text with a [link](02-next-steps.md).

![A map](../images/map.png)
"""

SECOND_LESSON = """\
# Next steps

More text.
"""

CHECK_YAML = """\
title: Check your understanding
after_lesson: first-steps
pass_mark: 70
questions:
  - id: purpose
    type: single
    prompt: What is it?
    options:
      - id: a
        text: Right
        correct: true
        feedback: Yes.
      - id: b
        text: Wrong
        correct: false
        feedback: No.
"""

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def write_course(root: Path, slug: str = "test-course", folder: str | None = None) -> Path:
    """A valid course: course.yaml, two lessons, a check after the first and an image."""
    course = root / (folder or slug)
    (course / "lessons").mkdir(parents=True)
    (course / "checks").mkdir()
    (course / "images").mkdir()
    (course / "course.yaml").write_text(COURSE_YAML.format(slug=slug), encoding="utf-8")
    (course / "lessons" / "01-first-steps.md").write_text(FIRST_LESSON, encoding="utf-8")
    (course / "lessons" / "02-next-steps.md").write_text(SECOND_LESSON, encoding="utf-8")
    (course / "checks" / "01-check-first-steps.yaml").write_text(CHECK_YAML, encoding="utf-8")
    (course / "images" / "map.png").write_bytes(PNG)
    return course


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def courses(tmp_path) -> Path:
    root = tmp_path / "courses"
    write_course(root)
    return root


def validate(runner, root: Path):
    return runner.invoke(args=["courses", "validate", str(root)])


def assert_problems(result, *lines: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == list(lines)
    files = len({line.split(":")[0] for line in lines})
    problems = f"{len(lines)} problem{'s' if len(lines) > 1 else ''}"
    assert result.stderr == f"Error: {problems} in {files} file{'s' if files > 1 else ''}\n"


COURSE = "courses/test-course/course.yaml"
LESSON = "courses/test-course/lessons/01-first-steps.md"
CHECK = "courses/test-course/checks/01-check-first-steps.yaml"


def test_a_clean_tree_validates(runner, courses):
    result = validate(runner, courses)
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 course, 2 lessons, 1 check: no problems\n"


def test_validate_reads_the_configured_folder_by_default(app, runner, courses, monkeypatch):
    monkeypatch.setitem(app.config, "COURSES_DIR", str(courses))
    result = runner.invoke(args=["courses", "validate"])
    assert result.exit_code == 0, result.output


def test_a_missing_folder_is_one_clear_error(runner, tmp_path):
    result = validate(runner, tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'nowhere'} is not a folder of courses\n"


def test_the_real_courses_validate_cleanly():
    tree = read_courses(ROOT / "courses")
    assert [str(p) for p in tree.problems] == []
    assert tree.courses


# One thing broken at a time: (file under the course, old text, new text, expected lines).
COURSE_YAML_CASES = [
    ("titel: x\n", f"{COURSE}:15: unknown key 'titel'"),
    ("title: Again\n", f"{COURSE}:15: duplicate key 'title'"),
]


@pytest.mark.parametrize(("extra", "expected"), COURSE_YAML_CASES)
def test_course_yaml_keys(runner, courses, extra, expected):
    path = courses / "test-course" / "course.yaml"
    path.write_text(path.read_text() + extra)
    assert_problems(validate(runner, courses), expected)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("audience: Testers.\n", "", f"{COURSE}:1: missing key 'audience'"),
    ("slug: test-course", "slug: Test_Course",
     f"{COURSE}:1: slug 'Test_Course' must be lowercase letters, digits and hyphens, like 'some-name'"),
    ("slug: test-course", "slug: other-course",
     f"{COURSE}:1: slug 'other-course' must equal the folder's name 'test-course'"),
    ("title: Test course", "title: ''", f"{COURSE}:2: title is empty"),
    ("summary: A short summary.", "summary: 2024", f"{COURSE}:3: summary must be text"),
    ("level: introductory", "level: expert",
     f"{COURSE}:5: level must be introductory, intermediate or advanced, not 'expert'"),
    ("estimated_hours: 2", "estimated_hours: -1",
     f"{COURSE}:6: estimated_hours must be a number of hours, 0 or more, like 4 or 4.5; not -1"),
    ("cpd_hours: 1.5", "cpd_hours: lots",
     f"{COURSE}:7: cpd_hours must be a number of hours, 0 or more, like 4 or 4.5; not 'lots'"),
    ("cpd_hours: 1.5", "cpd_hours: 1.25",
     f"{COURSE}:7: cpd_hours must be under 10000 hours with at most one decimal place; not 1.25"),
    ("topics: [testing]", "topics: []", f"{COURSE}:8: topics is empty: give at least one"),
    ("topics: [testing]", "topics: testing", f"{COURSE}:8: topics must be a list"),
    ("  - Write a test", "  - 3", f"{COURSE}:10: learning_outcomes item 1 must be text, not 3"),
    ("  lessons: all", "  lessons: some", f"{COURSE}:12: completion lessons must be 'all', not 'some'"),
    ("  checks: all\n", "  checks: all\n  quizzes: all\n", f"{COURSE}:14: unknown key 'quizzes' in completion"),
    ("  checks: all\n", "", f"{COURSE}:12: missing key 'checks' in completion"),
    ("certificate: true", "certificate: maybe", f"{COURSE}:14: certificate must be true or false, not 'maybe'"),
    ("title: Test course", "title: [unclosed",
     f"{COURSE}:3: invalid YAML: did not find expected ',' or ']'"),
    ("title: Test course", "title: a: b", f"{COURSE}:2: invalid YAML: mapping values are not allowed in this context"),
])
def test_course_yaml_problems(runner, courses, old, new, expected):
    edit(courses / "test-course" / "course.yaml", old, new)
    assert_problems(validate(runner, courses), expected)


def test_every_problem_is_reported_at_once(runner, courses):
    course = courses / "test-course"
    edit(course / "course.yaml", "level: introductory", "level: expert")
    edit(course / "course.yaml", "certificate: true", "certificate: 1")
    edit(course / "lessons" / "02-next-steps.md", "# Next steps", "Next steps")
    edit(course / "checks" / "01-check-first-steps.yaml", "pass_mark: 70", "pass_mark: 0")
    assert_problems(
        validate(runner, courses),
        f"{CHECK}:3: pass_mark must be a whole number from 1 to 100, not 0",
        f"{COURSE}:5: level must be introductory, intermediate or advanced, not 'expert'",
        f"{COURSE}:14: certificate must be true or false, not 1",
        "courses/test-course/lessons/02-next-steps.md:1: the first line must be the lesson's title as a heading, "
        "like '# Why digital matters'",
    )


def test_a_file_that_is_not_utf8_names_the_line(runner, courses):
    path = courses / "test-course" / "course.yaml"
    path.write_bytes(path.read_bytes().replace(b"A short summary.", "Café".encode("latin-1")))
    assert_problems(validate(runner, courses),
                    f"{COURSE}:3: not UTF-8 text (byte 0xe9 cannot be read); save the file as UTF-8")


def test_a_folder_without_course_yaml(runner, courses):
    (courses / "test-course" / "course.yaml").unlink()
    assert_problems(validate(runner, courses), f"{COURSE}:1: file not found: every course folder needs a course.yaml")


def test_a_course_with_no_lessons(runner, courses):
    course = courses / "test-course"
    for lesson in (course / "lessons").iterdir():
        lesson.unlink()
    (course / "checks" / "01-check-first-steps.yaml").unlink()
    assert_problems(validate(runner, courses), f"{COURSE}:1: the course has no lessons: add lessons/01-some-name.md")


def test_two_folders_with_one_slug(runner, courses):
    write_course(courses, slug="test-course", folder="copy")
    assert_problems(
        validate(runner, courses),
        "courses/copy/course.yaml:1: slug 'test-course' must equal the folder's name 'copy'",
        "courses/test-course/course.yaml:1: slug 'test-course' is also used by courses/copy/course.yaml",
    )


@pytest.mark.parametrize(("name", "expected"), [
    ("3-bad.md", "courses/test-course/lessons/3-bad.md:1: lesson file name '3-bad.md' must look like "
                 "'01-some-name.md': a two-digit number, a hyphen, then an id of lowercase letters, digits and "
                 "hyphens"),
    ("03-Bad_Name.md", "courses/test-course/lessons/03-Bad_Name.md:1: lesson file name '03-Bad_Name.md' must look "
                       "like '01-some-name.md': a two-digit number, a hyphen, then an id of lowercase letters, "
                       "digits and hyphens"),
    ("02-other.md", "courses/test-course/lessons/02-other.md:1: lesson number 02 is also used by "
                    "courses/test-course/lessons/02-next-steps.md"),
    ("03-next-steps.md", "courses/test-course/lessons/03-next-steps.md:1: lesson id 'next-steps' is also used by "
                         "courses/test-course/lessons/02-next-steps.md"),
])
def test_lesson_file_names(runner, courses, name, expected):
    (courses / "test-course" / "lessons" / name).write_text("# Another\n\nText.\n")
    assert_problems(validate(runner, courses), expected)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("# First steps", "First steps",
     f"{LESSON}:1: the first line must be the lesson's title as a heading, like '# Why digital matters'"),
    ("# First steps", "## First steps",
     f"{LESSON}:1: the first line must be the lesson's title as a heading, like '# Why digital matters'"),
    ("[link](02-next-steps.md)", "[link](03-missing.md)", f"{LESSON}:3: broken link: '03-missing.md' does not exist"),
    ("../images/map.png", "../images/missing.png",
     f"{LESSON}:5: broken image: '../images/missing.png' does not exist"),
    ("../images/map.png", "02-next-steps.md",
     f"{LESSON}:5: image '02-next-steps.md' must be in the course's images/ folder"),
    ("../images/map.png", "../../other/x.png",
     f"{LESSON}:5: image '../../other/x.png' points outside the course folder"),
    ("[link](02-next-steps.md)", "[link](javascript:alert(1))",
     f"{LESSON}:3: link 'javascript:alert(1)' is not allowed: use an http, https or mailto address, "
     "or a relative path"),
    ("![A map](../images/map.png)", "![A map](data:image/png;base64,AAAA)",
     f"{LESSON}:5: image 'data:image/png;base64,AAAA' is not allowed: use an http, https or mailto address, "
     "or a relative path"),
    ("Some text with", "Some text\nwith", f"{LESSON}:4: broken link: '02-next-steps.md' does not exist"),
])
def test_lesson_problems(runner, courses, old, new, expected):
    path = courses / "test-course" / "lessons" / "01-first-steps.md"
    edit(path, old, new)
    if "\n" in new:  # the link moves to the next line; break it to see where it is reported
        edit(path, "02-next-steps.md", "02-nowhere.md")
        expected = expected.replace("02-next-steps.md", "02-nowhere.md")
    assert_problems(validate(runner, courses), expected)


def test_links_that_need_no_file(runner, courses):
    edit(courses / "test-course" / "lessons" / "02-next-steps.md", "More text.",
         "See [GOV.UK](https://www.gov.uk), [mail](mailto:a@example.org), [below](#notes) and [home](/).")
    assert validate(runner, courses).exit_code == 0


def test_an_empty_lesson(runner, courses):
    (courses / "test-course" / "lessons" / "02-next-steps.md").write_text("# Next steps\n\n\n")
    assert_problems(validate(runner, courses),
                    "courses/test-course/lessons/02-next-steps.md:1: the lesson has no content after its title")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("after_lesson: first-steps", "after_lesson: nowhere",
     f"{CHECK}:2: after_lesson 'nowhere' is not a lesson in this course"),
    ("pass_mark: 70", "pass_mark: 101", f"{CHECK}:3: pass_mark must be a whole number from 1 to 100, not 101"),
    ("pass_mark: 70", "pass_mark: high", f"{CHECK}:3: pass_mark must be a whole number from 1 to 100, not 'high'"),
    ("pass_mark: 70", "pass_mark: 70.5", f"{CHECK}:3: pass_mark must be a whole number from 1 to 100, not 70.5"),
    ("title: Check your understanding\n", "", f"{CHECK}:1: missing key 'title'"),
    ("pass_mark: 70\n", "pass_mark: 70\npassmark: 80\n", f"{CHECK}:4: unknown key 'passmark'"),
    ("    type: single", "    type: several",
     f"{CHECK}:6: type must be single or multiple, not 'several' in question 'purpose'"),
    ("    prompt: What is it?", "    prompt: ''", f"{CHECK}:7: prompt is empty in question 'purpose'"),
    ("        correct: false", "        correct: true",
     f"{CHECK}:5: question 'purpose' is single but has 2 correct options: a single question has exactly one "
     "(use type: multiple for more)"),
    ("        correct: true", "        correct: false",
     f"{CHECK}:5: question 'purpose' has no correct option: mark at least one 'correct: true'"),
    ("      - id: b", "      - id: a", f"{CHECK}:13: option id 'a' is used twice in question 'purpose'"),
    ("        feedback: No.\n", "", f"{CHECK}:13: missing key 'feedback' in option 'b' of question 'purpose'"),
    ("        feedback: No.", "        feedback:",
     f"{CHECK}:16: feedback is empty in option 'b' of question 'purpose'"),
    ("        correct: false", "        correct: no way",
     f"{CHECK}:15: correct must be true or false, not 'no way' in option 'b' of question 'purpose'"),
    ("    prompt: What is it?", "    promt: What is it?",
     f"{CHECK}:7: unknown key 'promt' in question 'purpose'\n{CHECK}:5: missing key 'prompt' in question 'purpose'"),
    ("questions:\n", "questions: []\nx:\n", f"{CHECK}:4: questions is empty: give at least one\n"
                                            f"{CHECK}:5: unknown key 'x'"),
])
def test_check_problems(runner, courses, old, new, expected):
    edit(courses / "test-course" / "checks" / "01-check-first-steps.yaml", old, new)
    if old == "questions:\n":  # drop the questions that followed
        path = courses / "test-course" / "checks" / "01-check-first-steps.yaml"
        path.write_text(path.read_text().split("x:\n")[0] + "x:\n")
    assert_problems(validate(runner, courses), *sorted(expected.split("\n"), key=lambda line: int(line.split(":")[1])))


def test_question_ids_are_unique_in_a_check(runner, courses):
    path = courses / "test-course" / "checks" / "01-check-first-steps.yaml"
    path.write_text(CHECK_YAML + CHECK_YAML.split("questions:\n")[1])
    assert_problems(validate(runner, courses), f"{CHECK}:17: question id 'purpose' is used twice in this check")


def test_a_multiple_question_may_have_several_correct_options(runner, courses):
    path = courses / "test-course" / "checks" / "01-check-first-steps.yaml"
    edit(path, "type: single", "type: multiple")
    edit(path, "correct: false", "correct: true")
    assert validate(runner, courses).exit_code == 0


def test_check_files_are_named_and_unique(runner, courses):
    checks = courses / "test-course" / "checks"
    (checks / "01-again.yaml").write_text(CHECK_YAML)
    (checks / "02-check-first-steps.yaml").write_text(CHECK_YAML)
    (checks / "quiz.yml").write_text(CHECK_YAML)
    assert_problems(
        validate(runner, courses),
        "courses/test-course/checks/01-check-first-steps.yaml:1: check number 01 is also used by "
        "courses/test-course/checks/01-again.yaml",
        "courses/test-course/checks/02-check-first-steps.yaml:1: check id 'check-first-steps' is also used by "
        "courses/test-course/checks/01-check-first-steps.yaml",
        "courses/test-course/checks/quiz.yml:1: check file name 'quiz.yml' must look like '01-some-name.yaml': "
        "a two-digit number, a hyphen, then an id of lowercase letters, digits and hyphens",
    )


# Markdown ------------------------------------------------------------------------------------


def test_markdown_gets_govuk_classes_and_served_images():
    html = render("## Part\n\nText **bold**.\n\n- a\n- b\n\n1. one\n\n[GOV.UK](https://www.gov.uk)\n\n"
                  "![Map](../images/map.png)\n", slug="test-course")
    assert '<h2 class="govuk-heading-m">Part</h2>' in html
    assert '<p class="govuk-body">Text <strong>bold</strong>.</p>' in html
    assert '<ul class="govuk-list govuk-list--bullet">' in html
    assert '<ol class="govuk-list govuk-list--number">' in html
    assert '<a href="https://www.gov.uk" class="govuk-link">GOV.UK</a>' in html
    assert '<img src="/course-images/test-course/map.png" alt="Map">' in html


def test_a_level_one_heading_in_the_body_becomes_level_two():
    assert render("# Again\n", slug="s") == '<h2 class="govuk-heading-m">Again</h2>\n'


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>",
    "Text <script>alert(1)</script> here",
    '<img src="x" onerror="alert(1)">',
    "<div onclick=\"alert(1)\">click</div>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1) )",
    "[click](vbscript:msgbox(1))",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2Zz4=)",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "<a href=\"javascript:alert(1)\">raw</a>",
    "<iframe src=\"https://evil.example\"></iframe>",
    '[x](https://example.org "a\\" onmouseover=\\"alert(1)")',
    "<!-- comment --><style>p{}</style>",
])
def test_hostile_markdown_is_escaped_or_stripped(hostile):
    html = render(hostile + "\n", slug="s")
    elements = _elements(html)
    assert {tag for tag, _ in elements} <= {"p", "a", "img"}, html
    for _tag, attributes in elements:
        assert set(attributes) <= {"class", "href", "src", "alt", "title"}, html
        for name in ("href", "src"):
            if attributes.get(name):
                assert attributes[name].startswith(("https:", "/", "#")), html
    # Raw HTML shows as text: the reader sees what the author typed.
    if hostile.startswith("<") and not hostile.startswith("<!--"):
        assert "&lt;" in html


def _elements(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every element in ``html`` with its attributes, as a browser would read them."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


def test_raw_html_is_shown_as_text():
    assert render("<b>bold</b>\n", slug="s") == '<p class="govuk-body">&lt;b&gt;bold&lt;/b&gt;</p>\n'
