"""Off-the-job hours under concurrent requests: the same form sent many times at once makes one entry, many
entries for one day at once never pass the daily limit together, and two people deciding the same entry at
once leave one decision, the other told who decided first.

Each test sends real requests from many threads at once (each a browser of its own, with its own database
connection), released together by a barrier, against the real database.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, OtjActivity, OtjStatus
from app.services import clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import csrf_token, sign_in
from tests.pages import text_of
from tests.test_off_the_job import log_form, log_path

SENDERS = 20


@pytest.fixture
def record():
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    make_placement(apprenticeship, supervisor=make_supervisor())
    return apprenticeship, apprentice


def at_once(app, clients, send):
    """``send(client, index)`` from one thread per client, all released at the same moment; the responses in
    order. Each thread gets its own application context, so its own database session."""
    start = threading.Barrier(len(clients), timeout=30)
    responses: list = [None] * len(clients)

    def run(index):
        with app.app_context():
            try:
                start.wait()
                responses[index] = send(clients[index], index)
            except Exception as error:  # noqa: BLE001 - reported to the test
                responses[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not [r for r in responses if isinstance(r, Exception)], responses
    return responses


def signed_in_clients(new_client, person, count: int, token_path: str):
    """``count`` browsers signed in as ``person``, each with the CSRF token of ``token_path``."""
    clients = []
    for _ in range(count):
        client = new_client()
        sign_in(client, person)
        client.token = csrf_token(client, token_path)
        clients.append(client)
    return clients


def entries(apprenticeship) -> list[OtjActivity]:
    db.session.expire_all()
    return list(db.session.scalars(select(OtjActivity).where(OtjActivity.apprenticeship_id == apprenticeship.id)))


def test_the_same_form_sent_twenty_times_at_once_makes_one_entry(app, new_client, record):
    apprenticeship, apprentice = record
    clients = signed_in_clients(new_client, apprentice, SENDERS, log_path(apprenticeship))
    form, path = log_form(apprenticeship), log_path(apprenticeship)
    db.session.rollback()  # the test's own connection must not hold SQLite's file while the requests write

    responses = at_once(app, clients, lambda client, _i: client.post(path, data={**form, "csrf_token": client.token}))

    assert len(entries(apprenticeship)) == 1
    assert sorted(r.status_code for r in responses) == [302] + [400] * (SENDERS - 1)
    refused = next(r for r in responses if r.status_code == 400)
    assert "These hours are already logged" in text_of(refused)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "otj.logged")) == 1


def test_twenty_one_hour_entries_for_one_day_at_once_stay_within_the_daily_limit(app, new_client, record):
    apprenticeship, apprentice = record
    clients = signed_in_clients(new_client, apprentice, SENDERS, log_path(apprenticeship))
    day = clock.today() - timedelta(days=3)
    forms = [log_form(apprenticeship, on=day, hours="1", description=f"Study session {n}") for n in range(SENDERS)]
    path = log_path(apprenticeship)
    db.session.rollback()

    responses = at_once(app, clients,
                        lambda client, i: client.post(path, data={**forms[i], "csrf_token": client.token}))

    logged = entries(apprenticeship)
    limit = app.config["OTJ_MAX_HOURS_PER_DAY"] * 60
    assert sum(e.minutes for e in logged) == limit  # exactly a working day: every hour that fits, no more
    assert len(logged) == limit // 60
    assert sorted(r.status_code for r in responses).count(302) == limit // 60
    refused = next(r for r in responses if r.status_code == 400)
    assert "No more than 8 hours can be logged for one day" in text_of(refused)


def test_two_coordinators_deciding_one_entry_at_once_leave_one_decision(app, new_client, record):
    apprenticeship, _ = record
    entry = make_otj(apprenticeship, on=clock.today() - timedelta(days=2), minutes=120)
    path, entry_id = f"/apprenticeships/{apprenticeship.id}/off-the-job/{entry.id}", entry.id
    deciders = [make_coordinator(f"decider{n}@example.org", scope=()) for n in range(8)]
    clients = []
    for n, decider in enumerate(deciders):
        decider.name = f"Decider {n}"
        db.session.commit()
        clients.extend(signed_in_clients(new_client, decider, 1, path))
    db.session.rollback()

    def decide(client, index):
        approve = index % 2 == 0
        return client.post(path + "/decision", data={
            "decision": "approve" if approve else "reject", "reason": "" if approve else "Not new learning",
            "csrf_token": client.token})

    responses = at_once(app, clients, decide)

    winners = [i for i, r in enumerate(responses) if r.status_code == 302]
    assert len(winners) == 1, [r.status_code for r in responses]
    db.session.expire_all()
    decided = db.session.get(OtjActivity, entry_id)
    winner = winners[0]
    assert decided.status is (OtjStatus.APPROVED if winner % 2 == 0 else OtjStatus.REJECTED)
    assert decided.decided_by.name == f"Decider {winner}"
    verb = decided.status.label.lower()
    for index, response in enumerate(responses):
        if index != winner:
            assert response.status_code == 400
            assert f"have already been {verb} by Decider {winner}" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action.in_(["otj.approved", "otj.rejected"]))) == 1


def test_a_bulk_approval_racing_a_rejection_approves_all_or_none(app, new_client, record):
    apprenticeship, _ = record
    first = make_otj(apprenticeship, on=clock.today() - timedelta(days=2), minutes=60)
    second = make_otj(apprenticeship, on=clock.today() - timedelta(days=3), minutes=60)
    bulk, single = (make_coordinator(f"c{n}@example.org", scope=()) for n in range(2))
    queue = "/supervising"
    ids = [first.id, second.id]
    second_path = f"/apprenticeships/{apprenticeship.id}/off-the-job/{second.id}"
    [bulk_client] = signed_in_clients(new_client, bulk, 1, queue)
    [single_client] = signed_in_clients(new_client, single, 1, second_path)
    db.session.rollback()

    def send(client, index):
        if index == 0:
            return client.post(queue + "/approve", data={"activity_ids": [str(i) for i in ids],
                                                         "csrf_token": client.token})
        return client.post(second_path + "/decision",
                           data={"decision": "reject", "reason": "Duplicate", "csrf_token": client.token})

    at_once(app, [bulk_client, single_client], send)

    db.session.expire_all()
    statuses = {db.session.get(OtjActivity, i).status for i in ids}
    # Either the bulk approval won (both approved) or the rejection did (and the bulk approval changed nothing).
    assert statuses in ({OtjStatus.APPROVED}, {OtjStatus.SUBMITTED, OtjStatus.REJECTED})
