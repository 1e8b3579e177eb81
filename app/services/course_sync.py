"""Load the course folders into the database: all courses or none, and nothing ever deleted.

Rows are matched by stable ids (a course's slug, a lesson's or check's id from its file name) and
rewritten only when their file's content hash changes, so learners' progress always has its row.
A course, lesson or check whose file has gone is retired, not deleted; one that comes back returns.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from app.content import CheckFile, CourseFile, LessonFile, Problem, read_courses
from app.extensions import db
from app.models import Course, KnowledgeCheck, Lesson
from app.models.types import utcnow
from app.services import ServiceError


class CourseFilesInvalid(ServiceError):
    """The course files have problems; nothing was loaded."""

    def __init__(self, problems: list[Problem]):
        count = len(problems)
        super().__init__(f"{count} problem{'' if count == 1 else 's'} in the course files; nothing was changed")
        self.problems = problems


@dataclass
class Changes:
    """What happened to one course's lessons or checks."""

    created: int = 0
    updated: int = 0
    retired: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired)

    def describe(self) -> str:
        parts = [f"{n} {what}" for what, n in
                 (("created", self.created), ("updated", self.updated), ("retired", self.retired)) if n]
        return ", ".join(parts)


@dataclass
class CourseChange:
    slug: str
    status: str  # created, updated, unchanged or retired
    lessons: Changes = field(default_factory=Changes)
    checks: Changes = field(default_factory=Changes)

    def line(self) -> str:
        details = [f"{what}: {changes.describe()}" for what, changes in
                   (("lessons", self.lessons), ("checks", self.checks)) if changes.changed]
        return f"{self.slug}: {self.status}" + (f" ({'; '.join(details)})" if details else "")


@dataclass
class SyncReport:
    courses: list[CourseChange] = field(default_factory=list)

    def slugs(self, status: str) -> list[str]:
        return [c.slug for c in self.courses if c.status == status]

    @property
    def created(self) -> list[str]:
        return self.slugs("created")

    @property
    def updated(self) -> list[str]:
        return self.slugs("updated")

    @property
    def unchanged(self) -> list[str]:
        return self.slugs("unchanged")

    @property
    def retired(self) -> list[str]:
        return self.slugs("retired")

    def summary(self) -> str:
        return (f"Courses: {len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.unchanged)} unchanged, {len(self.retired)} retired")

    def lines(self) -> list[str]:
        return [c.line() for c in self.courses] + [self.summary()]


def sync_courses(root: Path | str) -> SyncReport:
    """Check every course under ``root``, then create, update or retire rows to match.

    Raises CourseFilesInvalid, having changed nothing, when any file has a problem; FileNotFoundError
    when ``root`` is not a folder. Adds and flushes; the caller commits."""
    tree = read_courses(root)
    if tree.problems:
        raise CourseFilesInvalid(tree.problems)
    now = utcnow()
    report = SyncReport()
    existing = {course.slug: course for course in db.session.scalars(select(Course))}
    for course_file in tree.courses:
        report.courses.append(_sync_course(course_file, existing.get(course_file.slug), now))
    in_files = {course_file.slug for course_file in tree.courses}
    for slug, course in sorted(existing.items()):
        if slug not in in_files and course.retired_at is None:
            course.retired_at = now
            report.courses.append(CourseChange(slug, "retired"))
    db.session.flush()
    return report


def _course_values(course_file: CourseFile) -> dict:
    return {
        "title": course_file.title,
        "summary": course_file.summary,
        "audience": course_file.audience,
        "level": course_file.level,
        "estimated_hours": course_file.estimated_hours,
        "cpd_hours": course_file.cpd_hours,
        "topics": course_file.topics,
        "learning_outcomes": course_file.learning_outcomes,
        "completion_rule": course_file.completion_rule,
        "gives_certificate": course_file.certificate,
        "content_hash": course_file.content_hash,
    }


def _sync_course(course_file: CourseFile, course: Course | None, now: datetime) -> CourseChange:
    created = course is None
    course_changed = False
    if course is None:
        course = Course(slug=course_file.slug, synced_at=now, **_course_values(course_file))
        db.session.add(course)
    else:
        if course.content_hash != course_file.content_hash:
            for name, value in _course_values(course_file).items():
                setattr(course, name, value)
            course.synced_at = now
            course_changed = True
        if course.retired_at is not None:
            course.retired_at = None
            course_changed = True

    lesson_positions, check_positions = _positions(course_file)
    change = CourseChange(course_file.slug, "created")
    change.lessons = _sync_items(
        course, course.lessons, course_file.lessons, lesson_positions, now,
        make=lambda f, position: Lesson(course=course, key=f.key, position=position, **_lesson_values(f)),
        values=_lesson_values,
    )
    change.checks = _sync_items(
        course, course.checks, course_file.checks, check_positions, now,
        make=lambda f, position: KnowledgeCheck(course=course, key=f.key, position=position,
                                                 **_check_values(f)), values=_check_values,
    )
    if not created:
        changed = course_changed or change.lessons.changed or change.checks.changed
        change.status = "updated" if changed else "unchanged"
    return change


def _positions(course_file: CourseFile) -> tuple[dict[str, int], dict[str, int]]:
    """One running order: each lesson, then the checks that follow it."""
    checks_after = defaultdict(list)
    for check in sorted(course_file.checks, key=lambda c: c.number):
        checks_after[check.after_lesson].append(check.key)
    lessons, checks = {}, {}
    position = 0
    for lesson in sorted(course_file.lessons, key=lambda lf: lf.number):
        position += 1
        lessons[lesson.key] = position
        for key in checks_after[lesson.key]:
            position += 1
            checks[key] = position
    return lessons, checks


def _lesson_values(lesson: LessonFile) -> dict:
    return {"title": lesson.title, "body_html": lesson.body_html, "content_hash": lesson.content_hash}


def _check_values(check: CheckFile) -> dict:
    return {
        "title": check.title,
        "after_lesson_key": check.after_lesson,
        "pass_mark": check.pass_mark,
        "questions": [question.as_dict() for question in check.questions],
        "content_hash": check.content_hash,
    }


def _sync_items(course, rows, files, positions: dict[str, int], now: datetime, *, make, values) -> Changes:
    """Bring a course's lessons (or checks) in line with their files, touching only what changed."""
    changes = Changes()
    by_key = {row.key: row for row in rows}
    for item in files:
        row = by_key.get(item.key)
        position = positions[item.key]
        if row is None:
            db.session.add(make(item, position))
            changes.created += 1
            continue
        changed = False
        if row.content_hash != item.content_hash:
            for name, value in values(item).items():
                setattr(row, name, value)
            changed = True
        if row.position != position:
            row.position = position
            changed = True
        if row.retired_at is not None:
            row.retired_at = None
            changed = True
        if changed:
            changes.updated += 1
        else:
            changes.unchanged += 1
    in_files = {item.key for item in files}
    for key, row in by_key.items():
        if key not in in_files and row.retired_at is None:
            row.retired_at = now
            changes.retired += 1
    return changes
