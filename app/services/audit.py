"""The audit trail: changes that matter, with who made them."""

from __future__ import annotations

from app.extensions import db
from app.models import AuditEvent, Person


def record(actor: Person | None, action: str, subject, summary: str, **details) -> AuditEvent:
    """Record ``action`` on ``subject`` (any model with an ``id``). ``actor`` is None for the CLI."""
    event = AuditEvent(
        actor_id=actor.id if actor is not None and getattr(actor, "is_authenticated", False) else None,
        action=action,
        subject_type=type(subject).__name__.lower(),
        subject_id=getattr(subject, "id", None),
        summary=summary,
        details=details,
    )
    db.session.add(event)
    return event
