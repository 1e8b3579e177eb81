"""Read the course folders (courses/README.md describes them) into typed values, collecting every problem."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import yaml

from app.content import markdown
from app.content.validation import (
    MAX_ID_LENGTH,
    MAX_TITLE_LENGTH,
    Fields,
    Problem,
    Problems,
    YamlDocument,
    decode,
    load_yaml,
)

LESSON_NAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
CHECK_NAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.yaml$")
TITLE_LINE = re.compile(r"^#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
LEVELS = ("introductory", "intermediate", "advanced")
QUESTION_TYPES = ("single", "multiple")
COURSE_KEYS = ["slug", "title", "summary", "audience", "level", "estimated_hours", "cpd_hours", "topics",
               "learning_outcomes", "completion", "certificate"]
COMPLETION_KEYS = ["lessons", "checks"]
CHECK_KEYS = ["title", "after_lesson", "pass_mark", "questions"]
QUESTION_KEYS = ["id", "type", "prompt", "options"]
OPTION_KEYS = ["id", "text", "correct", "feedback"]


@dataclass
class LessonFile:
    key: str
    number: int
    path: Path
    title: str
    body_markdown: str
    body_html: str
    content_hash: str


@dataclass
class OptionFile:
    id: str
    text: str
    correct: bool
    feedback: str


@dataclass
class QuestionFile:
    id: str
    type: str
    prompt: str
    options: list[OptionFile]

    def as_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "prompt": self.prompt,
                "options": [{"id": o.id, "text": o.text, "correct": o.correct, "feedback": o.feedback}
                            for o in self.options]}


@dataclass
class CheckFile:
    key: str
    number: int
    path: Path
    title: str
    after_lesson: str
    pass_mark: int
    questions: list[QuestionFile]
    content_hash: str


@dataclass
class CourseFile:
    slug: str
    folder: Path
    title: str
    summary: str
    audience: str
    level: str
    estimated_hours: Decimal
    cpd_hours: Decimal
    topics: list[str]
    learning_outcomes: list[str]
    completion_rule: dict[str, str]
    certificate: bool
    content_hash: str
    lessons: list[LessonFile] = field(default_factory=list)
    checks: list[CheckFile] = field(default_factory=list)


@dataclass
class CourseTree:
    """What a courses folder holds. When ``problems`` is not empty, ``courses`` lists only the courses
    that read cleanly and must not be loaded."""

    root: Path
    courses: list[CourseFile]
    problems: list[Problem]

    @property
    def lesson_count(self) -> int:
        return sum(len(c.lessons) for c in self.courses)

    @property
    def check_count(self) -> int:
        return sum(len(c.checks) for c in self.courses)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_courses(root: Path | str) -> CourseTree:
    """Read every course folder under ``root``; raises FileNotFoundError when ``root`` is not a folder."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    reader = _Reader(root)
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith((".", "_")):
            reader.read_course(folder)
    reader.check_slugs()
    problems = sorted(reader.problems, key=lambda p: (p.path, p.line))
    return CourseTree(root, reader.courses, problems)


class _Reader:
    def __init__(self, root: Path):
        self.root = root
        self.problems: list[Problem] = []
        self.courses: list[CourseFile] = []
        self.slugs: list[tuple[str, str, int]] = []  # slug, path, line

    def display(self, path: Path) -> str:
        return path.relative_to(self.root.parent).as_posix()

    def problems_in(self, path: Path, into: list[Problem]) -> Problems:
        return Problems(self.display(path), into)

    # course.yaml -----------------------------------------------------------------------------

    def read_course(self, folder: Path) -> None:
        found: list[Problem] = []
        path = folder / "course.yaml"
        problems = self.problems_in(path, found)
        values = None
        if not path.is_file():
            problems.add(1, "file not found: every course folder needs a course.yaml")
        else:
            values = self.read_course_yaml(folder, path, problems)
        lessons, lesson_keys = self.read_lessons(folder, problems, found)
        checks = self.read_checks(folder, lesson_keys, found)
        self.problems.extend(found)
        if values is not None and not found:
            self.courses.append(CourseFile(**values, folder=folder, lessons=lessons, checks=checks))

    def read_course_yaml(self, folder: Path, path: Path, problems: Problems) -> dict | None:
        data = path.read_bytes()
        text = decode(data, problems)
        doc = load_yaml(text, problems) if text is not None else None
        if doc is None:
            return None
        if not isinstance(doc.root, yaml.MappingNode):
            problems.at(doc.root, "course.yaml must be a set of keys and values, like 'title: ...'")
            return None
        fields = Fields(doc, doc.root, problems, required=COURSE_KEYS)
        slug = fields.identifier("slug", "slug")
        if slug is not None:
            self.slugs.append((slug, problems.path, fields.line("slug")))
            if slug != folder.name:
                fields.fail("slug", f"slug {slug!r} must equal the folder's name {folder.name!r}")
        values = {
            "slug": slug,
            "title": fields.text("title", max_length=MAX_TITLE_LENGTH),
            "summary": fields.text("summary"),
            "audience": fields.text("audience"),
            "level": fields.choice("level", LEVELS),
            "estimated_hours": fields.hours("estimated_hours"),
            "cpd_hours": fields.hours("cpd_hours"),
            "topics": fields.text_list("topics"),
            "learning_outcomes": fields.text_list("learning_outcomes"),
            "completion_rule": self.read_completion(doc, fields, problems),
            "certificate": fields.boolean("certificate"),
            "content_hash": content_hash(data),
        }
        return values if all(v is not None for v in values.values()) else None

    def read_completion(self, doc: YamlDocument, fields: Fields, problems: Problems) -> dict[str, str] | None:
        node = fields.mapping("completion")
        if node is None:
            return None
        completion = Fields(doc, node, problems, required=COMPLETION_KEYS, where=" in completion")
        rule = {}
        for key in COMPLETION_KEYS:
            if completion.has(key):
                value = completion.raw(key)
                if value != "all":
                    problems.at(completion.nodes[key], f"completion {key} must be 'all', not {value!r}")
                rule[key] = value
        return rule if len(rule) == len(COMPLETION_KEYS) and set(rule.values()) == {"all"} else None

    def check_slugs(self) -> None:
        first: dict[str, str] = {}
        for slug, path, line in self.slugs:
            if slug in first:
                self.problems.append(Problem(path, line, f"slug {slug!r} is also used by {first[slug]}"))
                self.courses = [c for c in self.courses if c.slug != slug]
            else:
                first[slug] = path

    # Files named NN-id ------------------------------------------------------------------------

    def numbered_files(self, folder: Path, pattern: re.Pattern, what: str, example: str,
                       found: list[Problem]) -> list[tuple[int, str, Path]]:
        """(number, id, path) of the well-named files in ``folder``; a problem for each other entry and
        for each number or id used twice."""
        if not folder.is_dir():
            return []
        files = []
        numbers: dict[int, Path] = {}
        ids: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            problems = self.problems_in(path, found)
            match = pattern.match(path.name) if path.is_file() else None
            if match is None:
                problems.add(1, f"{what} file name {path.name!r} must look like {example!r}: a two-digit number, "
                                "a hyphen, then an id of lowercase letters, digits and hyphens")
                continue
            number, key = int(match.group(1)), match.group(2)
            if len(key) > MAX_ID_LENGTH:
                problems.add(1, f"{what} id {key!r} must be {MAX_ID_LENGTH} characters or fewer")
                continue
            clash = False
            if number in numbers:
                problems.add(1, f"{what} number {match.group(1)} is also used by {self.display(numbers[number])}")
                clash = True
            if key in ids:
                problems.add(1, f"{what} id {key!r} is also used by {self.display(ids[key])}")
                clash = True
            numbers.setdefault(number, path)
            ids.setdefault(key, path)
            if not clash:
                files.append((number, key, path))
        return files

    # Lessons ---------------------------------------------------------------------------------

    def read_lessons(self, folder: Path, course_problems: Problems,
                     found: list[Problem]) -> tuple[list[LessonFile], set[str]]:
        """The lessons that read cleanly, and the ids of all the lesson files."""
        files = self.numbered_files(folder / "lessons", LESSON_NAME, "lesson", "01-some-name.md", found)
        if not files:
            course_problems.add(1, "the course has no lessons: add lessons/01-some-name.md")
        lessons = []
        for number, key, path in files:
            lesson = self.read_lesson(folder, number, key, path, found)
            if lesson is not None:
                lessons.append(lesson)
        return lessons, {key for _, key, _ in files}

    def read_lesson(self, folder: Path, number: int, key: str, path: Path, found: list[Problem]) -> LessonFile | None:
        problems = self.problems_in(path, found)
        count = len(found)
        data = path.read_bytes()
        text = decode(data, problems)
        if text is None:
            return None
        lines = text.splitlines()
        match = TITLE_LINE.match(lines[0]) if lines else None
        title = match.group(1).strip() if match else None
        if title is None:
            problems.add(1, "the first line must be the lesson's title as a heading, like '# Why digital matters'")
        elif len(title) > MAX_TITLE_LENGTH:
            problems.add(1, f"the title must be {MAX_TITLE_LENGTH} characters or fewer")
        # The title's line is kept blank so the body's line numbers are the file's.
        body = "\n".join(["", *lines[1:]]) + "\n"
        if not body.strip():
            problems.add(1, "the lesson has no content after its title")
        self.check_links(folder, path, body, problems)
        if len(found) > count:
            return None
        return LessonFile(key=key, number=number, path=path, title=title, body_markdown=body.strip("\n") + "\n",
                          body_html=markdown.render(body, slug=folder.name), content_hash=content_hash(data))

    def check_links(self, folder: Path, path: Path, body: str, problems: Problems) -> None:
        course_folder = folder.resolve()
        images = course_folder / "images"
        for link in markdown.find_links(body):
            url = link.url.strip()
            scheme = markdown.scheme_of(url)
            if not url:
                problems.add(link.line, f"{link.kind} has no address")
            elif scheme is not None and scheme not in markdown.ALLOWED_SCHEMES:
                problems.add(link.line, f"{link.kind} {url!r} is not allowed: use an http, https or mailto address, "
                                        "or a relative path")
            elif markdown.is_relative_file(url) and markdown.relative_path(url):
                target = (path.parent / markdown.relative_path(url)).resolve()
                if not target.is_relative_to(course_folder):
                    problems.add(link.line, f"{link.kind} {url!r} points outside the course folder")
                elif not target.is_file():
                    problems.add(link.line, f"broken {link.kind}: {url!r} does not exist")
                elif link.kind == "image" and not target.is_relative_to(images):
                    problems.add(link.line, f"image {url!r} must be in the course's images/ folder")

    # Knowledge checks ------------------------------------------------------------------------

    def read_checks(self, folder: Path, lesson_keys: set[str], found: list[Problem]) -> list[CheckFile]:
        files = self.numbered_files(folder / "checks", CHECK_NAME, "check", "01-some-name.yaml", found)
        checks = []
        for number, key, path in files:
            check = self.read_check(number, key, path, lesson_keys, found)
            if check is not None:
                checks.append(check)
        return checks

    def read_check(self, number: int, key: str, path: Path, lesson_keys: set[str],
                   found: list[Problem]) -> CheckFile | None:
        problems = self.problems_in(path, found)
        count = len(found)
        data = path.read_bytes()
        text = decode(data, problems)
        doc = load_yaml(text, problems) if text is not None else None
        if doc is None:
            return None
        if not isinstance(doc.root, yaml.MappingNode):
            problems.at(doc.root, "a check must be a set of keys and values, like 'title: ...'")
            return None
        fields = Fields(doc, doc.root, problems, required=CHECK_KEYS)
        title = fields.text("title", max_length=MAX_TITLE_LENGTH)
        after_lesson = fields.text("after_lesson", max_length=MAX_ID_LENGTH)
        if after_lesson is not None and after_lesson not in lesson_keys:
            fields.fail("after_lesson", f"after_lesson {after_lesson!r} is not a lesson in this course")
        pass_mark = fields.integer("pass_mark", 1, 100)
        questions = []
        question_ids: set[str] = set()
        for position, node in enumerate(fields.sequence("questions") or [], start=1):
            question = self.read_question(doc, node, position, problems)
            if question is None:
                continue
            if question.id in question_ids:
                problems.at(node, f"question id {question.id!r} is used twice in this check")
            question_ids.add(question.id)
            questions.append(question)
        if len(found) > count:
            return None
        return CheckFile(key=key, number=number, path=path, title=title, after_lesson=after_lesson,
                         pass_mark=pass_mark, questions=questions, content_hash=content_hash(data))

    def read_question(self, doc: YamlDocument, node: yaml.Node, position: int,
                      problems: Problems) -> QuestionFile | None:
        if not isinstance(node, yaml.MappingNode):
            problems.at(node, f"question {position} must be a set of keys and values, like 'id: ...'")
            return None
        label = _label(doc, node, "question", position)
        fields = Fields(doc, node, problems, required=QUESTION_KEYS, where=f" in {label}")
        question_id = _id(fields)
        kind = fields.choice("type", QUESTION_TYPES)
        prompt = fields.text("prompt")
        options = []
        option_ids: set[str] = set()
        for number, option_node in enumerate(fields.sequence("options") or [], start=1):
            option = self.read_option(doc, option_node, number, label, problems)
            if option is None:
                continue
            if option.id in option_ids:
                problems.at(option_node, f"option id {option.id!r} is used twice in {label}")
            option_ids.add(option.id)
            options.append(option)
        if None in (question_id, kind, prompt) or not options or len(options) != len(fields.nodes["options"].value):
            return None
        correct = sum(option.correct for option in options)
        if correct == 0:
            problems.at(node, f"{label} has no correct option: mark at least one 'correct: true'")
        elif kind == "single" and correct > 1:
            problems.at(node, f"{label} is single but has {correct} correct options: a single question has "
                              "exactly one (use type: multiple for more)")
        return QuestionFile(id=question_id, type=kind, prompt=prompt, options=options)

    def read_option(self, doc: YamlDocument, node: yaml.Node, position: int, question: str,
                    problems: Problems) -> OptionFile | None:
        if not isinstance(node, yaml.MappingNode):
            problems.at(node, f"option {position} in {question} must be a set of keys and values, like 'id: a'")
            return None
        label = _label(doc, node, "option", position)
        fields = Fields(doc, node, problems, required=OPTION_KEYS, where=f" in {label} of {question}")
        values = {
            "id": _id(fields),
            "text": fields.text("text"),
            "correct": fields.boolean("correct"),
            "feedback": fields.text("feedback"),
        }
        if any(v is None for v in values.values()):
            return None
        return OptionFile(**values)


def _id(fields: Fields) -> str | None:
    """A question's or option's id: text (a bare number is fine)."""
    if fields.has("id") and isinstance(fields.raw("id"), int) and not isinstance(fields.raw("id"), bool):
        return str(fields.raw("id"))
    return fields.text("id", max_length=MAX_ID_LENGTH)


def _label(doc: YamlDocument, node: yaml.MappingNode, what: str, position: int) -> str:
    """"question 'purpose'" when the item has a usable id, else "question 2"."""
    for key_node, value_node in node.value:
        if doc.value(key_node) == "id" and isinstance(value_node, yaml.ScalarNode) and value_node.value.strip():
            return f"{what} {value_node.value.strip()!r}"
    return f"{what} {position}"
