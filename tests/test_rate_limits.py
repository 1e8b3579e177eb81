"""Limits that parallel requests must not slip past: certificate checks per client address."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import VerificationAttempt
from tests.test_otj_races import at_once


def test_parallel_certificate_checks_from_one_address_stay_within_the_limit(app, new_client):
    limit = app.config["VERIFY_RATE_LIMIT"]
    clients = [new_client() for _ in range(limit + 12)]
    db.session.rollback()

    responses = at_once(app, clients, lambda client, _i: client.get("/verify/ABCD-EFGH-JKLM-NPQR"))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * limit + [429] * 12
    assert db.session.scalar(select(func.count()).select_from(VerificationAttempt)) == limit
