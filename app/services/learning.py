"""Learning a course: the outline, lesson progress, knowledge-check attempts and completion.

Completion is evaluated the moment a requirement is met (a lesson opened, a check passed), never by
a timer, and the learner can always see what is still missing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, case, func, literal_column, null, select, union_all

from app.extensions import db
from app.models import CheckAttempt, Course, Enrolment, EnrolmentStatus, KnowledgeCheck, Lesson, LessonProgress
from app.models.types import utcnow
from app.services import ServiceError, audit, certificates

LEARNING_STATUSES = (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)


@dataclass(frozen=True)
class Step:
    """A lesson or check as the lesson page needs it, without loading the whole row: its id, and the body of
    the lesson shown (None for the others)."""

    id: int
    body_html: str | None = None


@dataclass
class OutlineItem:
    """A lesson or a knowledge check, in course order."""

    kind: str  # "lesson" or "check"
    key: str
    title: str
    item: Lesson | KnowledgeCheck | Step
    done: bool = False
    best_score: int | None = None


def _percent(done: int, total: int) -> int:
    return round(100 * done / total) if total else 0


@dataclass(frozen=True)
class ProgressCount:
    """How many of a course's steps an enrolment has done, as its progress bar shows them."""

    done_count: int
    total: int

    @property
    def percent(self) -> int:
        return _percent(self.done_count, self.total)


@dataclass
class Progress:
    items: list[OutlineItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def lessons(self) -> list[OutlineItem]:
        return [i for i in self.items if i.kind == "lesson"]

    @property
    def checks(self) -> list[OutlineItem]:
        return [i for i in self.items if i.kind == "check"]

    @property
    def done_count(self) -> int:
        return sum(1 for i in self.items if i.done)

    @property
    def percent(self) -> int:
        return _percent(self.done_count, self.total)

    @property
    def missing(self) -> list[OutlineItem]:
        return [i for i in self.items if not i.done]

    @property
    def complete(self) -> bool:
        return bool(self.items) and not self.missing

    @property
    def best_check_score(self) -> int | None:
        scores = [i.best_score for i in self.checks if i.best_score is not None]
        return max(scores) if scores else None


def live_lessons(course: Course) -> list[Lesson]:
    return [lesson for lesson in course.lessons if lesson.retired_at is None]


def live_checks(course: Course) -> list[KnowledgeCheck]:
    return [check for check in course.checks if check.retired_at is None]


def _in_order(lessons, checks, item=lambda row: row) -> list[OutlineItem]:
    """Lessons in order, each followed by the checks that come after it (checks after a lesson that is not
    live are left out)."""
    checks_after: dict[str, list] = {}
    for check in checks:
        checks_after.setdefault(check.after_lesson_key, []).append(check)
    items = []
    for lesson in lessons:
        items.append(OutlineItem("lesson", lesson.key, lesson.title, item(lesson)))
        items.extend(OutlineItem("check", c.key, c.title, item(c)) for c in checks_after.get(lesson.key, []))
    return items


def outline(course: Course) -> list[OutlineItem]:
    """Lessons in order, each followed by the checks that come after it."""
    return _in_order(live_lessons(course), live_checks(course))


@functools.cache
def _steps():
    """A course's (``:course_id``) live lessons and checks in order, with the body of the lesson ``:body_of``
    only. Built once, as building it costs more than running it."""
    lessons = (
        select(literal_column("'lesson'").label("kind"), Lesson.id, Lesson.key, Lesson.title, Lesson.position,
               null().label("after_lesson_key"),
               case((Lesson.key == bindparam("body_of"), Lesson.body_html)).label("body_html"))
        .where(Lesson.course_id == bindparam("course_id"), Lesson.retired_at.is_(None))
    )
    checks = (
        select(literal_column("'check'"), KnowledgeCheck.id, KnowledgeCheck.key, KnowledgeCheck.title,
               KnowledgeCheck.position, KnowledgeCheck.after_lesson_key, null())
        .where(KnowledgeCheck.course_id == bindparam("course_id"), KnowledgeCheck.retired_at.is_(None))
    )
    return union_all(lessons, checks).order_by("kind", "position", "id")


def steps(course_id: int, *, body_of: str | None = None) -> list[OutlineItem]:
    """The same outline as :func:`outline` in one query of the few columns navigation and progress need, with
    the body of the lesson ``body_of`` only: a lesson page shows one body, not the course's."""
    rows = db.session.execute(_steps(), {"course_id": course_id, "body_of": body_of}).all()
    return _in_order([r for r in rows if r.kind == "lesson"], [r for r in rows if r.kind == "check"],
                     item=lambda row: Step(row.id, row.body_html))


@functools.cache
def _outlines():
    """The live lessons and checks of the courses ``:course_ids``, in order, as :func:`_steps` reads one course's
    (no bodies). Built once."""
    ids = bindparam("course_ids", expanding=True)
    lessons = (
        select(literal_column("'lesson'").label("kind"), Lesson.course_id, Lesson.id, Lesson.key, Lesson.title,
               Lesson.position, null().label("after_lesson_key"))
        .where(Lesson.course_id.in_(ids), Lesson.retired_at.is_(None))
    )
    checks = (
        select(literal_column("'check'"), KnowledgeCheck.course_id, KnowledgeCheck.id, KnowledgeCheck.key,
               KnowledgeCheck.title, KnowledgeCheck.position, KnowledgeCheck.after_lesson_key)
        .where(KnowledgeCheck.course_id.in_(ids), KnowledgeCheck.retired_at.is_(None))
    )
    return union_all(lessons, checks).order_by("kind", "position", "id")


def progress_of_courses(course_of: dict[int, int]) -> dict[int, Progress]:
    """Progress of many enrolments (enrolment id: course id) through their courses' outlines, in two queries
    however many there are: what a home lists without loading the courses."""
    if not course_of:
        return {}
    rows = db.session.execute(_outlines(), {"course_ids": sorted(set(course_of.values()))}).all()
    opened, attempts = _done(list(course_of))
    by_course: dict[int, list] = {}
    for row in rows:
        by_course.setdefault(row.course_id, []).append(row)
    progresses = {}
    for enrolment_id, course_id in course_of.items():
        mine = by_course.get(course_id, [])
        items = _in_order([r for r in mine if r.kind == "lesson"], [r for r in mine if r.kind == "check"],
                          item=lambda row: Step(row.id))
        progresses[enrolment_id] = _mark(items, opened[enrolment_id], attempts[enrolment_id])
    return progresses


def next_step(progress: Progress) -> OutlineItem | None:
    """The first step not done yet, in course order: where "Continue" takes the learner."""
    return progress.missing[0] if progress.missing else None


def progress(enrolment: Enrolment) -> Progress:
    return progress_of([enrolment])[enrolment.id]


@functools.cache
def _done_query():
    """The lessons opened by the enrolments ``:enrolment_ids``, and their best score and whether they passed,
    for each check they tried (``passed`` None for a lesson). Built once."""
    ids = bindparam("enrolment_ids", expanding=True)
    tried = (
        select(CheckAttempt.enrolment_id, CheckAttempt.check_id.label("item_id"),
               func.max(CheckAttempt.score).label("best"),
               func.max(case((CheckAttempt.passed, 1), else_=0)).label("passed"))
        .where(CheckAttempt.enrolment_id.in_(ids)).group_by(CheckAttempt.enrolment_id, CheckAttempt.check_id)
    )
    read = select(LessonProgress.enrolment_id, LessonProgress.lesson_id, null(), null()).where(
        LessonProgress.enrolment_id.in_(ids))
    return union_all(tried, read)


def _done(enrolment_ids: list[int]) -> tuple[dict[int, set[int]], dict[int, dict[int, tuple[int, bool]]]]:
    """The lessons each enrolment has opened, and its best score and whether it passed each check it tried,
    in one query."""
    opened: dict[int, set[int]] = {i: set() for i in enrolment_ids}
    attempts: dict[int, dict[int, tuple[int, bool]]] = {i: {} for i in enrolment_ids}
    for enrolment_id, item_id, best, passed in db.session.execute(_done_query(), {"enrolment_ids": enrolment_ids}):
        if passed is None:
            opened[enrolment_id].add(item_id)
        else:
            attempts[enrolment_id][item_id] = (best, bool(passed))
    return opened, attempts


def _mark(items: list[OutlineItem], opened: set[int], attempts: dict[int, tuple[int, bool]]) -> Progress:
    for item in items:
        if item.kind == "lesson":
            item.done = item.item.id in opened
        else:
            best, passed = attempts.get(item.item.id, (None, False))
            item.best_score, item.done = best, passed
    return Progress(items)


def progress_of(enrolments: list[Enrolment]) -> dict[int, Progress]:
    """Progress of many enrolments in one query, once courses are loaded."""
    ids = [e.id for e in enrolments]
    if not ids:
        return {}
    opened, attempts = _done(ids)
    return {e.id: _mark(outline(e.run.course), opened[e.id], attempts[e.id]) for e in enrolments}


def progress_through(enrolment_id: int, items: list[OutlineItem]) -> Progress:
    """Progress of one enrolment through an outline already read (:func:`steps`)."""
    opened, attempts = _done([enrolment_id])
    return _mark(items, opened[enrolment_id], attempts[enrolment_id])


def require_learning(enrolment: Enrolment) -> None:
    if enrolment.status not in LEARNING_STATUSES:
        raise ServiceError(f"You are {enrolment.status.label.lower()} on this run, so its lessons are not open to you")


def record_lesson_opened(enrolment: Enrolment, lesson: Lesson) -> None:
    require_learning(enrolment)
    opened = db.session.scalar(select(LessonProgress.id).where(
        LessonProgress.enrolment_id == enrolment.id, LessonProgress.lesson_id == lesson.id)) is not None
    _record_opened(enrolment, lesson.id, opened)


def open_lesson(enrolment: Enrolment, items: list[OutlineItem], index: int) -> Progress:
    """Record that the learner opened the lesson ``items[index]`` (:func:`record_lesson_opened`) and give their
    progress through ``items`` (from :func:`steps`), reading what they have done once for both."""
    require_learning(enrolment)
    progress = progress_through(enrolment.id, items)
    lesson = items[index]
    _record_opened(enrolment, lesson.item.id, lesson.done)
    lesson.done = True
    return progress


def _record_opened(enrolment: Enrolment, lesson_id: int, opened_before: bool) -> None:
    now = utcnow()
    enrolment.last_activity_at = now
    if not opened_before:
        db.session.add(LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson_id, completed_at=now))
        db.session.flush()
        evaluate_completion(enrolment)


def is_correct(question: dict, chosen: set[str]) -> bool:
    return chosen == {o["id"] for o in question["options"] if o["correct"]}


def submit_check(enrolment: Enrolment, check: KnowledgeCheck, answers: dict[str, list[str]],
                 submission_token: str) -> CheckAttempt:
    """Score and store an attempt. A repeated submission of the same form returns the first attempt."""
    require_learning(enrolment)
    if check.course_id != enrolment.run.course_id or check.retired_at is not None:
        raise ServiceError("This knowledge check is not part of your course")
    earlier = db.session.scalar(select(CheckAttempt).where(CheckAttempt.submission_token == submission_token))
    if earlier is not None:
        if earlier.enrolment_id != enrolment.id:
            raise ServiceError("This form has already been used; open the check again")
        return earlier
    questions = {q["id"]: q for q in check.questions}
    unknown = [qid for qid in answers if qid not in questions]
    if unknown:
        raise ServiceError("Your answers include a question that is not in this check; open the check again")
    cleaned: dict[str, list[str]] = {}
    for question in check.questions:
        chosen = [c for c in answers.get(question["id"], []) if c]
        options = {o["id"] for o in question["options"]}
        if not chosen:
            raise ServiceError("Answer every question", field=question["id"])
        if any(c not in options for c in chosen):
            raise ServiceError("Your answers include an option that is not in this question; open the check again",
                               field=question["id"])
        if question["type"] == "single" and len(chosen) > 1:
            raise ServiceError("Choose one answer", field=question["id"])
        cleaned[question["id"]] = sorted(set(chosen))
    correct = sum(1 for q in check.questions if is_correct(q, set(cleaned[q["id"]])))
    score = round(100 * correct / len(check.questions))
    attempt = CheckAttempt(enrolment_id=enrolment.id, check_id=check.id, answers=cleaned, score=score,
                           passed=score >= check.pass_mark, submission_token=submission_token)
    db.session.add(attempt)
    enrolment.last_activity_at = utcnow()
    db.session.flush()
    if attempt.passed:
        evaluate_completion(enrolment)
    return attempt


def evaluate_completion(enrolment: Enrolment, now: datetime | None = None) -> bool:
    """Complete the enrolment if every requirement is met; returns whether it is complete."""
    if enrolment.status is EnrolmentStatus.COMPLETED:
        return True
    if enrolment.status is not EnrolmentStatus.ENROLLED or not progress(enrolment).complete:
        return False
    course = enrolment.run.course
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.completed_at = now or utcnow()
    enrolment.cpd_hours_credited = Decimal(course.cpd_hours)
    db.session.flush()
    audit.record(enrolment.person, "enrolment.completed", enrolment,
                 f"{enrolment.person.name} completed {course.title}, {course.cpd_hours} CPD hours")
    if course.gives_certificate:
        certificates.issue_for_enrolment(enrolment)
    return True
