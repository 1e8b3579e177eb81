"""Syncing course files: all or nothing, idempotent, edits touch only what changed, nothing deleted."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import Course, KnowledgeCheck, Lesson
from app.services.course_sync import CourseFilesInvalid, sync_courses
from tests.test_course_files import PNG, edit, write_course


@pytest.fixture
def courses(tmp_path):
    root = tmp_path / "courses"
    write_course(root)
    return root


@contextmanager
def writes():
    """The INSERT, UPDATE and DELETE statements run inside the block."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def sync(root):
    report = sync_courses(root)
    db.session.commit()
    db.session.expire_all()
    return report


def course() -> Course:
    return db.session.scalar(select(Course).where(Course.slug == "test-course"))


def lesson(key: str) -> Lesson:
    return db.session.scalar(select(Lesson).where(Lesson.key == key))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_sync_creates_the_course_its_lessons_and_checks(courses):
    report = sync(courses)
    assert report.created == ["test-course"]
    assert report.lines() == ["test-course: created (lessons: 2 created; checks: 1 created)",
                              "Courses: 1 created, 0 updated, 0 unchanged, 0 retired"]
    row = course()
    assert (row.title, row.level, row.topics, row.learning_outcomes) == (
        "Test course", "introductory", ["testing"], ["Write a test"])
    assert (float(row.estimated_hours), float(row.cpd_hours)) == (2.0, 1.5)
    assert row.completion_rule == {"lessons": "all", "checks": "all"}
    assert row.gives_certificate is True
    assert len(row.content_hash) == 64
    # One running order: the check sits after the lesson it follows.
    assert [(lesson.key, lesson.position) for lesson in row.lessons] == [("first-steps", 1), ("next-steps", 3)]
    [check] = row.checks
    assert (check.key, check.position, check.after_lesson_key, check.pass_mark) == (
        "check-first-steps", 2, "first-steps", 70)
    assert check.questions[0]["options"][0] == {"id": "a", "text": "Right", "correct": True, "feedback": "Yes."}
    first = lesson("first-steps")
    assert first.title == "First steps"
    assert "First steps" not in first.body_html
    assert '<img src="/course-images/test-course/map.png" alt="A map">' in first.body_html


def test_a_second_sync_changes_nothing(courses):
    sync(courses)
    hashes = (course().content_hash, lesson("first-steps").content_hash, course().synced_at)
    with writes() as statements:
        report = sync(courses)
    assert statements == []
    assert report.lines() == ["test-course: unchanged", "Courses: 0 created, 0 updated, 1 unchanged, 0 retired"]
    assert (course().content_hash, lesson("first-steps").content_hash, course().synced_at) == hashes


def test_an_edited_lesson_is_the_only_row_rewritten(courses):
    sync(courses)
    before = lesson("first-steps").content_hash, course().synced_at
    edit(courses / "test-course" / "lessons" / "02-next-steps.md", "More text.", "Better text.")
    with writes() as statements:
        report = sync(courses)
    assert report.lines()[0] == "test-course: updated (lessons: 1 updated)"
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE LESSON")
    assert "Better text." in lesson("next-steps").body_html
    assert (lesson("first-steps").content_hash, course().synced_at) == before


def test_an_edited_course_yaml_updates_the_course(courses):
    sync(courses)
    edit(courses / "test-course" / "course.yaml", "title: Test course", "title: A better title")
    report = sync(courses)
    assert report.updated == ["test-course"]
    assert course().title == "A better title"


def test_a_removed_lesson_is_retired_and_comes_back(courses):
    edit(courses / "test-course" / "lessons" / "01-first-steps.md", "02-next-steps.md", "https://example.org")
    sync(courses)
    lesson_id = lesson("next-steps").id
    removed = courses / "test-course" / "lessons" / "02-next-steps.md"
    text = removed.read_text()
    removed.unlink()
    report = sync(courses)
    assert report.lines()[0] == "test-course: updated (lessons: 1 retired)"
    retired = lesson("next-steps")
    assert retired.id == lesson_id and retired.retired_at is not None
    assert count(Lesson) == 2

    removed.write_text(text)
    report = sync(courses)
    assert report.lines()[0] == "test-course: updated (lessons: 1 updated)"
    assert lesson("next-steps").id == lesson_id and lesson("next-steps").retired_at is None


def test_reordering_lessons_only_moves_them(courses):
    sync(courses)
    lessons = courses / "test-course" / "lessons"
    (lessons / "01-first-steps.md").rename(lessons / "05-first-steps.md")
    report = sync(courses)
    assert report.lines()[0] == "test-course: updated (lessons: 2 updated; checks: 1 updated)"
    assert [(row.key, row.position) for row in course().lessons] == [("next-steps", 1), ("first-steps", 2)]
    assert course().checks[0].position == 3


def test_a_removed_course_is_retired_not_deleted(courses):
    write_course(courses, slug="second-course")
    sync(courses)
    shutil.rmtree(courses / "second-course")
    report = sync(courses)
    assert report.retired == ["second-course"]
    assert report.unchanged == ["test-course"]
    retired = db.session.scalar(select(Course).where(Course.slug == "second-course"))
    assert retired.retired_at is not None
    assert len(retired.lessons) == 2


def test_an_invalid_tree_changes_nothing(courses):
    sync(courses)
    edit(courses / "test-course" / "lessons" / "02-next-steps.md", "More text.", "Changed.")
    write_course(courses, slug="second-course")
    edit(courses / "second-course" / "course.yaml", "level: introductory", "level: expert")
    with writes() as statements, pytest.raises(CourseFilesInvalid) as raised:
        sync_courses(courses)
    db.session.rollback()
    assert statements == []
    assert [str(p) for p in raised.value.problems] == [
        "courses/second-course/course.yaml:5: level must be introductory, intermediate or advanced, not 'expert'"]
    assert count(Course) == 1
    assert "Changed." not in lesson("next-steps").body_html


def test_the_sync_command_reports_and_commits(runner, courses):
    result = runner.invoke(args=["courses", "sync", str(courses)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ("test-course: created (lessons: 2 created; checks: 1 created)\n"
                             "Courses: 1 created, 0 updated, 0 unchanged, 0 retired\n")
    db.session.expire_all()
    assert count(Lesson) == 2 and count(KnowledgeCheck) == 1

    result = runner.invoke(args=["courses", "sync", str(courses)])
    assert result.stdout == "test-course: unchanged\nCourses: 0 created, 0 updated, 1 unchanged, 0 retired\n"


def test_the_sync_command_refuses_an_invalid_tree(runner, courses):
    edit(courses / "test-course" / "checks" / "01-check-first-steps.yaml", "pass_mark: 70", "pass_mark: 0")
    result = runner.invoke(args=["courses", "sync", str(courses)])
    assert result.exit_code == 1
    assert result.stdout == ("courses/test-course/checks/01-check-first-steps.yaml:3: "
                             "pass_mark must be a whole number from 1 to 100, not 0\n")
    assert result.stderr == "Error: 1 problem in 1 file\n"
    db.session.expire_all()
    assert count(Course) == 0 and count(Lesson) == 0


def test_lesson_images_are_served_from_the_course_folder(app, client, courses, monkeypatch):
    monkeypatch.setitem(app.config, "COURSES_DIR", str(courses))
    (courses / "test-course" / "secret.txt").write_text("not an image")
    response = client.get("/course-images/test-course/map.png")
    assert response.status_code == 200
    assert response.data == PNG
    assert "sandbox" in response.headers["Content-Security-Policy"]
    for path in ("/course-images/test-course/missing.png", "/course-images/test-course/..%2Fsecret.txt",
                 "/course-images/test-course/%2E%2E/course.yaml", "/course-images/Test/map.png",
                 "/course-images/nowhere/map.png"):
        assert client.get(path).status_code == 404, path
