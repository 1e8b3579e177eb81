"""Typed declarative models, one module per area."""

from app.models.account_safety import PasswordResetRequest, UsedLink
from app.models.apprenticeships import (
    ActivityType,
    Apprenticeship,
    ApprenticeshipStatus,
    BreakInLearning,
    EnglishMaths,
    EvidenceFile,
    Intake,
    Ksb,
    KsbKind,
    KsbProgressLevel,
    OtjActivity,
    OtjStatus,
    Placement,
    ProgressReview,
    Rag,
    ReviewKsbProgress,
    ReviewSignature,
    SigningParty,
    Standard,
    StandardVersion,
    StatusChange,
)
from app.models.audit import AuditEvent
from app.models.certificates import (
    Certificate,
    CertificateFile,
    CertificateKind,
    CertificateStatus,
    VerificationAttempt,
)
from app.models.cohorts import RiskFlag, RiskRating, RiskStanding
from app.models.courses import Course, CourseRun, KnowledgeCheck, Lesson, LiveSession, RunKind
from app.models.email import OutboundEmail
from app.models.learning import CheckAttempt, Enrolment, EnrolmentStatus, LessonProgress
from app.models.multi_factor import RecoveryCode, SecondFactor
from app.models.organisations import Organisation, OrganisationKind, Team
from app.models.people import Person, Role, RoleGrant, SignInAttempt
from app.models.reminders import Reminder
from app.models.review_rows import ApprenticeshipReviewRow, ApprenticeshipReviewScope
from app.models.scheduling import JobOutcome, JobRun, SchedulerLease
from app.models.sessions import SessionEnd, UserSession
from app.models.single_sign_on import IdentityProvider, SingleSignOnLink, SingleSignOnRequest

__all__ = [
    "IdentityProvider",
    "SingleSignOnLink",
    "SingleSignOnRequest",
    "PasswordResetRequest",
    "UsedLink",
    "JobOutcome",
    "JobRun",
    "SchedulerLease",
    "SessionEnd",
    "UserSession",
    "Reminder",
    "ApprenticeshipReviewRow",
    "ApprenticeshipReviewScope",
    "RecoveryCode",
    "SecondFactor",
    "RiskFlag",
    "RiskRating",
    "RiskStanding",
    "Certificate",
    "CertificateFile",
    "CertificateKind",
    "CertificateStatus",
    "VerificationAttempt",
    "ActivityType",
    "Apprenticeship",
    "ApprenticeshipStatus",
    "BreakInLearning",
    "EnglishMaths",
    "EvidenceFile",
    "Intake",
    "Ksb",
    "KsbKind",
    "KsbProgressLevel",
    "OtjActivity",
    "OtjStatus",
    "Placement",
    "ProgressReview",
    "Rag",
    "ReviewKsbProgress",
    "ReviewSignature",
    "SigningParty",
    "Standard",
    "StandardVersion",
    "StatusChange",
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
