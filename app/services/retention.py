"""How long Pathways keeps what it records, for the privacy notice: read from the daily ``purge-attempts`` job's
own functions and settings, so the notice says what the code does. Everything not listed here (accounts,
learning, apprenticeship records, evidence files, certificates, the audit trail) is kept until someone
deletes it: nothing in Pathways removes it on a schedule."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from flask import current_app

from app.services import accounts, sessions, signing_in, verification


@dataclass(frozen=True)
class RetentionPeriods:
    sign_in_attempt_days: int
    session_record_days: int
    reset_request_days: int
    certificate_check_days: int
    link_email_body_days: int
    email_days: int


def _days(purge) -> int:
    return inspect.signature(purge).parameters["older_than"].default.days


def retention_periods() -> RetentionPeriods:
    config = current_app.config
    return RetentionPeriods(
        sign_in_attempt_days=_days(signing_in.purge_old_attempts),
        session_record_days=_days(sessions.purge_old_sessions),
        reset_request_days=_days(accounts.purge_old_reset_requests),
        certificate_check_days=_days(verification.purge_old_attempts),
        link_email_body_days=config["OUTBOX_LINK_BODY_DAYS"],
        email_days=config["OUTBOX_KEEP_DAYS"],
    )
