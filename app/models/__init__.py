"""Typed declarative models, one module per area."""

from app.models.audit import AuditEvent
from app.models.courses import Course, CourseRun, KnowledgeCheck, Lesson, LiveSession, RunKind
from app.models.email import OutboundEmail
from app.models.learning import CheckAttempt, Enrolment, EnrolmentStatus, LessonProgress
from app.models.organisations import Organisation, OrganisationKind, Team
from app.models.people import Person, Role, RoleGrant, SignInAttempt

__all__ = [
    "AuditEvent",
    "CheckAttempt",
    "Course",
    "CourseRun",
    "Enrolment",
    "EnrolmentStatus",
    "KnowledgeCheck",
    "Lesson",
    "LessonProgress",
    "LiveSession",
    "RunKind",
    "Organisation",
    "OrganisationKind",
    "OutboundEmail",
    "Person",
    "Role",
    "RoleGrant",
    "SignInAttempt",
    "Team",
]
