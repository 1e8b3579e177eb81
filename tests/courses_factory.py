"""Course rows for tests, as a sync of course files would leave them."""

from __future__ import annotations

from decimal import Decimal

from app.extensions import db
from app.models import Course, CourseRun, KnowledgeCheck, Lesson, RunKind

QUESTIONS = [
    {"id": "declaration", "type": "single", "prompt": "What is the Local Government Digital Declaration?",
     "options": [
         {"id": "a", "text": "A shared commitment by councils", "correct": True, "feedback": "Right."},
         {"id": "b", "text": "A law", "correct": False, "feedback": "No: councils choose to sign it."},
     ]},
    {"id": "practices", "type": "multiple", "prompt": "Which are good practice?",
     "options": [
         {"id": "a", "text": "Working in the open", "correct": True, "feedback": "Yes."},
         {"id": "b", "text": "Reusing what others built", "correct": True, "feedback": "Yes."},
         {"id": "c", "text": "Buying long closed contracts", "correct": False, "feedback": "This locks you in."},
     ]},
]


def make_course(slug: str = "leading-digital-change", *, lessons: int = 2, cpd_hours: str = "4") -> Course:
    course = Course(
        slug=slug, title=slug.replace("-", " ").capitalize(), summary="A summary.", audience="Leaders.",
        level="introductory", estimated_hours=Decimal("4"), cpd_hours=Decimal(cpd_hours), topics=["digital"],
        learning_outcomes=["Lead change"], completion_rule={"lessons": "all", "checks": "all"},
        gives_certificate=True, content_hash="x" * 64,
    )
    for position in range(1, lessons + 1):
        course.lessons.append(Lesson(key=f"lesson-{position}", position=position, title=f"Lesson {position}",
                                     body_html=f"<p class=\"govuk-body\">Body {position}</p>", content_hash="y" * 64))
    course.checks.append(KnowledgeCheck(key="check", position=1, after_lesson_key=f"lesson-{lessons}",
                                        title="Check your understanding", pass_mark=100, questions=QUESTIONS,
                                        content_hash="z" * 64))
    db.session.add(course)
    db.session.commit()
    return course


def make_run(course: Course, *, capacity: int | None = None, name: str = "Always open", **dates) -> CourseRun:
    kind = RunKind.SCHEDULED if dates or capacity else RunKind.SELF_PACED
    run = CourseRun(course=course, kind=kind, name=name, capacity=capacity, **dates)
    db.session.add(run)
    db.session.commit()
    return run
