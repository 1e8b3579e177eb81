"""Learning a course: the outline, lesson progress, knowledge-check attempts and completion.

Completion is evaluated the moment a requirement is met (a lesson opened, a check passed), never by
a timer, and the learner can always see what is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import CheckAttempt, Course, Enrolment, EnrolmentStatus, KnowledgeCheck, Lesson, LessonProgress
from app.models.types import utcnow
from app.services import ServiceError, audit, certificates

LEARNING_STATUSES = (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)


@dataclass
class OutlineItem:
    """A lesson or a knowledge check, in course order."""

    kind: str  # "lesson" or "check"
    key: str
    title: str
    item: Lesson | KnowledgeCheck
    done: bool = False
    best_score: int | None = None


@dataclass
class Progress:
    items: list[OutlineItem] = field(default_factory=list)

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
        return round(100 * self.done_count / len(self.items)) if self.items else 0

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


def outline(course: Course) -> list[OutlineItem]:
    """Lessons in order, each followed by the checks that come after it."""
    checks_after: dict[str, list[KnowledgeCheck]] = {}
    for check in live_checks(course):
        checks_after.setdefault(check.after_lesson_key, []).append(check)
    items = []
    for lesson in live_lessons(course):
        items.append(OutlineItem("lesson", lesson.key, lesson.title, lesson))
        items.extend(OutlineItem("check", c.key, c.title, c) for c in checks_after.get(lesson.key, []))
    return items


def progress(enrolment: Enrolment) -> Progress:
    return progress_of([enrolment])[enrolment.id]


def progress_of(enrolments: list[Enrolment]) -> dict[int, Progress]:
    """Progress of many enrolments in a fixed number of queries (two, once courses are loaded)."""
    ids = [e.id for e in enrolments]
    if not ids:
        return {}
    opened: dict[int, set[int]] = {i: set() for i in ids}
    for enrolment_id, lesson_id in db.session.execute(
        select(LessonProgress.enrolment_id, LessonProgress.lesson_id).where(LessonProgress.enrolment_id.in_(ids))
    ):
        opened[enrolment_id].add(lesson_id)
    attempts: dict[int, dict[int, tuple[int, bool]]] = {i: {} for i in ids}
    for enrolment_id, check_id, best, passed in db.session.execute(
        select(CheckAttempt.enrolment_id, CheckAttempt.check_id, func.max(CheckAttempt.score),
               func.max(case((CheckAttempt.passed, 1), else_=0)))
        .where(CheckAttempt.enrolment_id.in_(ids)).group_by(CheckAttempt.enrolment_id, CheckAttempt.check_id)
    ):
        attempts[enrolment_id][check_id] = (best, bool(passed))
    result = {}
    for enrolment in enrolments:
        items = outline(enrolment.run.course)
        for item in items:
            if item.kind == "lesson":
                item.done = item.item.id in opened[enrolment.id]
            else:
                best, passed = attempts[enrolment.id].get(item.item.id, (None, False))
                item.best_score, item.done = best, passed
        result[enrolment.id] = Progress(items)
    return result


def require_learning(enrolment: Enrolment) -> None:
    if enrolment.status not in LEARNING_STATUSES:
        raise ServiceError(f"You are {enrolment.status.label.lower()} on this run, so its lessons are not open to you")


def record_lesson_opened(enrolment: Enrolment, lesson: Lesson) -> None:
    require_learning(enrolment)
    now = utcnow()
    enrolment.last_activity_at = now
    exists = db.session.scalar(select(LessonProgress.id).where(
        LessonProgress.enrolment_id == enrolment.id, LessonProgress.lesson_id == lesson.id))
    if exists is None:
        db.session.add(LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson.id, completed_at=now))
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
