"""Typed declarative models, one module per area."""

from app.models.audit import AuditEvent
from app.models.email import OutboundEmail
from app.models.organisations import Organisation, OrganisationKind, Team
from app.models.people import Person, Role, RoleGrant, SignInAttempt

__all__ = [
    "AuditEvent",
    "Organisation",
    "OrganisationKind",
    "OutboundEmail",
    "Person",
    "Role",
    "RoleGrant",
    "SignInAttempt",
    "Team",
]
