"""Digital apprenticeships: standards and their KSBs, intakes, apprenticeships and their lifecycle,
placements across boroughs, off-the-job hours, progress reviews."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Column, ForeignKey, Index, Numeric, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organisations import Organisation, Team
from app.models.people import Person
from app.models.types import UTCDateTime, enum_column, utcnow

# Standards ----------------------------------------------------------------------------------


class Standard(db.Model):
    """An England apprenticeship standard, e.g. ST0116 Software developer."""

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(10), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    level: Mapped[int]
    route: Mapped[str] = mapped_column(String(100))

    versions: Mapped[list[StandardVersion]] = relationship(
        back_populates="standard", order_by="StandardVersion.id"
    )


class StandardVersion(db.Model):
    """One version of a standard. Apprenticeships are on a version; KSBs belong to a version."""

    __table_args__ = (UniqueConstraint("standard_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("standard.id"))
    version: Mapped[str] = mapped_column(String(10))
    lars_code: Mapped[int | None]
    typical_duration_months: Mapped[int]
    # The published minimum off-the-job hours for starts from 1 August 2025 (null when not published).
    otj_minimum_hours: Mapped[int | None]
    # The grades the end-point assessment allows, e.g. ["fail", "pass", "distinction"].
    epa_grades: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))

    standard: Mapped[Standard] = relationship(back_populates="versions")
    ksbs: Mapped[list[Ksb]] = relationship(back_populates="standard_version", order_by="Ksb.position")

    @property
    def label(self) -> str:
        return f"{self.standard.title} (level {self.standard.level}), {self.standard.reference} v{self.version}"


class KsbKind(enum.StrEnum):
    KNOWLEDGE = "knowledge"
    SKILL = "skill"
    BEHAVIOUR = "behaviour"


class Ksb(db.Model):
    """A knowledge, skill or behaviour of a standard version. K1 exists in every standard, so a KSB is
    keyed on its version and code, never the code alone."""

    __table_args__ = (UniqueConstraint("standard_version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    standard_version_id: Mapped[int] = mapped_column(ForeignKey("standard_version.id"))
    code: Mapped[str] = mapped_column(String(10))
    kind: Mapped[KsbKind] = mapped_column(enum_column(KsbKind, 20))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))

    standard_version: Mapped[StandardVersion] = relationship(back_populates="ksbs")


# Intakes and apprenticeships ------------------------------------------------------------------


class Intake(db.Model):
    """A cohort of apprentices recruited together, e.g. "September 2025"."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    starts_on: Mapped[date]
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    coordinator: Mapped[Person] = relationship()
    apprenticeships: Mapped[list[Apprenticeship]] = relationship(back_populates="intake")


class ApprenticeshipStatus(enum.StrEnum):
    ACTIVE = "active"
    BREAK_IN_LEARNING = "break_in_learning"
    WITHDRAWN = "withdrawn"
    GATEWAY = "gateway"
    END_POINT_ASSESSMENT = "end_point_assessment"
    COMPLETED = "completed"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    ApprenticeshipStatus.ACTIVE: "Active",
    ApprenticeshipStatus.BREAK_IN_LEARNING: "Break in learning",
    ApprenticeshipStatus.WITHDRAWN: "Withdrawn",
    ApprenticeshipStatus.GATEWAY: "At gateway",
    ApprenticeshipStatus.END_POINT_ASSESSMENT: "End-point assessment",
    ApprenticeshipStatus.COMPLETED: "Completed",
}


class EnglishMaths(enum.StrEnum):
    """The recorded English and maths decision."""

    REQUIRED = "required"  # still to achieve: blocks gateway
    ACHIEVED = "achieved"  # already held or achieved during the apprenticeship
    NOT_REQUIRED = "not_required"  # e.g. 19+ at start from 11 February 2025 and chose not to

    @property
    def label(self) -> str:
        return {"required": "Required, not yet achieved", "achieved": "Achieved",
                "not_required": "Not required"}[self.value]


class Apprenticeship(db.Model):
    __table_args__ = (Index("ix_apprenticeship_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    apprentice_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    intake_id: Mapped[int | None] = mapped_column(ForeignKey("intake.id"), index=True)
    standard_version_id: Mapped[int] = mapped_column(ForeignKey("standard_version.id"), index=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    training_provider: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date]
    planned_end_on: Mapped[date]
    actual_end_on: Mapped[date | None]
    weekly_hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    # The rule set chosen by the start date, e.g. "2025-08" (see services/apprenticeship_rules.py).
    rule_set: Mapped[str] = mapped_column(String(20))
    # What the rule set gives, and what applies: they differ only with a recorded reason.
    planned_otj_hours_by_rule: Mapped[int]
    planned_otj_hours: Mapped[int]
    otj_override_reason: Mapped[str | None] = mapped_column(Text)
    english_maths: Mapped[EnglishMaths] = mapped_column(enum_column(EnglishMaths, 20))
    english_maths_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ApprenticeshipStatus] = mapped_column(enum_column(ApprenticeshipStatus, 30))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Gateway is the employer's decision: who agreed and when.
    employer_gateway_agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    employer_gateway_agreed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    grade: Mapped[str | None] = mapped_column(String(20))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    apprentice: Mapped[Person] = relationship(foreign_keys=[apprentice_id])
    intake: Mapped[Intake | None] = relationship(back_populates="apprenticeships")
    standard_version: Mapped[StandardVersion] = relationship()
    employer: Mapped[Organisation] = relationship()
    employer_gateway_agreed_by: Mapped[Person | None] = relationship(foreign_keys=[employer_gateway_agreed_by_id])
    placements: Mapped[list[Placement]] = relationship(
        back_populates="apprenticeship", order_by="Placement.starts_on"
    )
    breaks: Mapped[list[BreakInLearning]] = relationship(
        back_populates="apprenticeship", order_by="BreakInLearning.starts_on"
    )
    status_changes: Mapped[list[StatusChange]] = relationship(
        back_populates="apprenticeship", order_by="StatusChange.id"
    )
    reviews: Mapped[list[ProgressReview]] = relationship(
        back_populates="apprenticeship", order_by="ProgressReview.sequence"
    )


class StatusChange(db.Model):
    """Every lifecycle transition: who, when, why."""

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int] = mapped_column(ForeignKey("apprenticeship.id"), index=True)
    from_status: Mapped[ApprenticeshipStatus | None] = mapped_column(enum_column(ApprenticeshipStatus, 30))
    to_status: Mapped[ApprenticeshipStatus] = mapped_column(enum_column(ApprenticeshipStatus, 30))
    effective_on: Mapped[date]
    reason: Mapped[str] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    apprenticeship: Mapped[Apprenticeship] = relationship(back_populates="status_changes")
    changed_by: Mapped[Person | None] = relationship()


class BreakInLearning(db.Model):
    """An agreed break; no off-the-job hours can be logged inside it. ``ends_on`` is the last day of
    the break, empty while it lasts."""

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int] = mapped_column(ForeignKey("apprenticeship.id"), index=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    reason: Mapped[str] = mapped_column(Text)

    apprenticeship: Mapped[Apprenticeship] = relationship(back_populates="breaks")


# Placements -----------------------------------------------------------------------------------

placement_ksb = Table(
    "placement_ksb",
    db.metadata,
    Column("placement_id", ForeignKey("placement.id"), primary_key=True),
    Column("ksb_id", ForeignKey("ksb.id"), primary_key=True),
)


class Placement(db.Model):
    __table_args__ = (
        Index("ix_placement_apprenticeship_dates", "apprenticeship_id", "starts_on"),
        Index("ix_placement_supervisor", "supervisor_id", "ends_on"),
        Index("ix_placement_host", "host_organisation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int] = mapped_column(ForeignKey("apprenticeship.id"))
    host_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    objectives: Mapped[str] = mapped_column(Text)
    supervisor_feedback: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    apprenticeship: Mapped[Apprenticeship] = relationship(back_populates="placements")
    host_organisation: Mapped[Organisation] = relationship()
    team: Mapped[Team] = relationship()
    supervisor: Mapped[Person] = relationship()
    ksbs: Mapped[list[Ksb]] = relationship(secondary=placement_ksb, order_by="Ksb.position")


# Off-the-job hours ----------------------------------------------------------------------------


class ActivityType(enum.StrEnum):
    TEACHING = "teaching"
    ONLINE_LEARNING = "online_learning"
    SHADOWING = "shadowing"
    MENTORING = "mentoring"
    INDUSTRY_VISIT = "industry_visit"
    PRACTICAL_TRAINING = "practical_training"
    ASSIGNMENT = "assignment"
    LEARNING_SUPPORT = "learning_support"
    # Recorded in real life, but never off-the-job training: offered so a refusal can explain why.
    PROGRESS_REVIEW = "progress_review"
    ASSESSMENT = "assessment"
    ENGLISH_MATHS = "english_maths"
    INDUCTION = "induction"
    OUTSIDE_PAID_HOURS = "outside_paid_hours"

    @property
    def label(self) -> str:
        return ACTIVITY_LABELS[self]


ACTIVITY_LABELS = {
    ActivityType.TEACHING: "Teaching (lectures, classes, workshops)",
    ActivityType.ONLINE_LEARNING: "Online learning",
    ActivityType.SHADOWING: "Shadowing",
    ActivityType.MENTORING: "Mentoring",
    ActivityType.INDUSTRY_VISIT: "Industry visit",
    ActivityType.PRACTICAL_TRAINING: "Practical training",
    ActivityType.ASSIGNMENT: "Writing assignments or projects",
    ActivityType.LEARNING_SUPPORT: "Learning support",
    ActivityType.PROGRESS_REVIEW: "Progress review",
    ActivityType.ASSESSMENT: "On-programme assessment",
    ActivityType.ENGLISH_MATHS: "English and maths (up to level 2)",
    ActivityType.INDUCTION: "Induction or initial assessment",
    ActivityType.OUTSIDE_PAID_HOURS: "Training outside paid hours",
}


class OtjStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"submitted": "Waiting for approval", "approved": "Approved", "rejected": "Rejected"}[self.value]


otj_activity_ksb = Table(
    "otj_activity_ksb",
    db.metadata,
    Column("otj_activity_id", ForeignKey("otj_activity.id"), primary_key=True),
    Column("ksb_id", ForeignKey("ksb.id"), primary_key=True, index=True),
)


class OtjActivity(db.Model):
    """Off-the-job training logged for one day."""

    __table_args__ = (
        Index("ix_otj_activity_apprenticeship_day", "apprenticeship_id", "occurred_on"),
        Index("ix_otj_activity_placement_status", "placement_id", "status"),
        Index("ix_otj_activity_apprenticeship_status", "apprenticeship_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int] = mapped_column(ForeignKey("apprenticeship.id"))
    # The placement in force that day: its supervisor approves.
    placement_id: Mapped[int | None] = mapped_column(ForeignKey("placement.id"))
    occurred_on: Mapped[date]
    minutes: Mapped[int]
    activity_type: Mapped[ActivityType] = mapped_column(enum_column(ActivityType, 30))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[OtjStatus] = mapped_column(enum_column(OtjStatus, 20))
    logged_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    apprenticeship: Mapped[Apprenticeship] = relationship()
    placement: Mapped[Placement | None] = relationship()
    logged_by: Mapped[Person] = relationship(foreign_keys=[logged_by_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])
    ksbs: Mapped[list[Ksb]] = relationship(secondary=otj_activity_ksb, order_by="Ksb.position")
    evidence: Mapped[EvidenceFile | None] = relationship(back_populates="activity", uselist=False)

    @property
    def hours(self) -> Decimal:
        return (Decimal(self.minutes) / 60).quantize(Decimal("0.01"))


class EvidenceFile(db.Model):
    """A file attached to an off-the-job activity; the bytes live under EVIDENCE_DIR, named by this row,
    never in static/."""

    id: Mapped[int] = mapped_column(primary_key=True)
    otj_activity_id: Mapped[int] = mapped_column(ForeignKey("otj_activity.id"), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    activity: Mapped[OtjActivity] = relationship(back_populates="evidence")


# Progress reviews -----------------------------------------------------------------------------


class Rag(enum.StrEnum):
    RED = "red"
    AMBER = "amber"
    GREEN = "green"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class KsbProgressLevel(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    READY = "ready"
    COMPLETE = "complete"

    @property
    def label(self) -> str:
        return {"not_started": "Not started", "in_progress": "In progress", "ready": "Ready",
                "complete": "Complete"}[self.value]


class SigningParty(enum.StrEnum):
    APPRENTICE = "apprentice"
    EMPLOYER = "employer"
    COORDINATOR = "coordinator"

    @property
    def label(self) -> str:
        return {"apprentice": "Apprentice", "employer": "Employer (supervisor)",
                "coordinator": "Coordinator"}[self.value]


class ProgressReview(db.Model):
    """A three-way progress review, scheduled at the rule set's interval; complete once the apprentice,
    the employer and a coordinator have each signed."""

    __table_args__ = (
        UniqueConstraint("apprenticeship_id", "sequence"),
        Index("ix_progress_review_due", "due_on", "held_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    apprenticeship_id: Mapped[int] = mapped_column(ForeignKey("apprenticeship.id"))
    sequence: Mapped[int]
    due_on: Mapped[date]
    held_on: Mapped[date | None]
    # Snapshots at the time of the review, in hours.
    otj_hours_approved: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    otj_hours_expected: Mapped[Decimal | None] = mapped_column(Numeric(7, 2))
    rag: Mapped[Rag | None] = mapped_column(enum_column(Rag, 10))
    previous_actions: Mapped[str | None] = mapped_column(Text)
    concerns: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the third signature lands.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    apprenticeship: Mapped[Apprenticeship] = relationship(back_populates="reviews")
    recorded_by: Mapped[Person | None] = relationship()
    ksb_progress: Mapped[list[ReviewKsbProgress]] = relationship(back_populates="review")
    signatures: Mapped[list[ReviewSignature]] = relationship(back_populates="review", order_by="ReviewSignature.id")


class ReviewKsbProgress(db.Model):
    __table_args__ = (UniqueConstraint("review_id", "ksb_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("progress_review.id"))
    ksb_id: Mapped[int] = mapped_column(ForeignKey("ksb.id"))
    level: Mapped[KsbProgressLevel] = mapped_column(enum_column(KsbProgressLevel, 20))

    review: Mapped[ProgressReview] = relationship(back_populates="ksb_progress")
    ksb: Mapped[Ksb] = relationship()


class ReviewSignature(db.Model):
    """A timestamped confirmation by the signed-in person for one party; one per party."""

    __table_args__ = (UniqueConstraint("review_id", "party"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("progress_review.id"))
    party: Mapped[SigningParty] = mapped_column(enum_column(SigningParty, 20))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    review: Mapped[ProgressReview] = relationship(back_populates="signatures")
    person: Mapped[Person] = relationship()
