"""Every route that takes an object's id is tried by people outside that object's scope: each must refuse
(403 or 404) and change nothing. A route whose objects are open to others by design is named here with why.

The objects all belong to Hackney (an apprenticeship with its placement, hours, evidence and reviews, an
intake, a course run set up by a Hackney coordinator with a live session and an enrolment, certificates, a
person); the outsiders are of Lewisham: a coordinator, an apprentice, a supervisor and a learner, each with
records of their own.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import AuditEvent, LiveSession, OutboundEmail, Role
from app.services import clock, evidence
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
    make_team,
)
from tests.certificate_factories import (
    issue_apprenticeship_certificate,
    issue_course_certificate,
    make_completed_enrolment,
)
from tests.conftest import csrf_token, make_person, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run

HACKNEY, LEWISHAM = "E09000012", "E09000023"

# Routes outsiders may use on another borough's objects, and why.
OPEN_BY_DESIGN = {
    # Apprenticeship standards are the programme's reference data: every coordinator reads and extends them.
    "standards.show", "standards.new_version",
    # Course runs are offered to every borough: any coordinator sees a run and enrols their own people on it
    # (the roster, its export and withdrawals show and touch only the people of their organisations).
    "runs.show", "runs.enrol", "runs.import_upload", "runs.import_confirm", "runs.roster_csv",
    # A run's and its live sessions' calendar files: for the people on the run and the coordinators who may
    # enrol people on it (test_runs checks that others get none).
    "runs.run_calendar", "runs.session_calendar",
    # Anyone signed in may enrol themselves on a run that is open.
    "learning.enrol",
    # The calendar files of the runs a course page shows: anyone who sees the run there may plan for it, the
    # join links only for the people on it (test_learning checks both).
    "learning.run_calendar", "learning.session_calendar",
}
# Routes that take no object's id of their own, or are public by design.
NOT_OBJECT_ROUTES = {"static", "course_images.image", "auth.set_password", "verify.code", "scheduling.run_now",
                     "learning.course", "runs.new", "cohort_review.apprentices_export"}


@pytest.fixture
def hackney_world():
    version = make_standard_version()
    hackney_coordinator = make_coordinator("hackney.coordinator@example.org", scope=(HACKNEY,))
    intake = make_intake("Hackney September", coordinator=hackney_coordinator)
    apprentice = make_apprentice("hackney.apprentice@example.org")
    apprenticeship = make_apprenticeship(apprentice, standard_version=version, intake=intake)
    supervisor = make_supervisor("hackney.supervisor@example.org")
    placement = make_placement(apprenticeship, supervisor=supervisor)
    activity = make_otj(apprenticeship, on=clock.today() - timedelta(days=3))
    evidence.store(activity, FileStorage(io.BytesIO(b"Workshop notes\n"), filename="notes.txt"))
    course = make_course()
    run = make_run(course, created_by=hackney_coordinator)
    session = LiveSession(run=run, title="Kick-off", starts_at=datetime(2027, 1, 12, 10, tzinfo=UTC),
                          ends_at=datetime(2027, 1, 12, 11, tzinfo=UTC), location="Hackney Town Hall")
    db.session.add(session)
    learner = make_learner("hackney.learner@example.org")
    enrolment = enrol(learner, run)
    course_certificate = issue_course_certificate(make_completed_enrolment(organisation_code=HACKNEY))
    apprenticeship_certificate = issue_apprenticeship_certificate(hosts=(HACKNEY,))
    team = make_team(HACKNEY)
    message = db.session.scalar(select(OutboundEmail).limit(1))
    db.session.commit()
    return {
        "apprenticeship_id": apprenticeship.id, "activity_id": activity.id, "placement_id": placement.id,
        "review_id": apprenticeship.reviews[0].id, "intake_id": intake.id, "run_id": run.id,
        "enrolment_id": enrolment.id, "session_id": session.id, "certificate_id": course_certificate.id,
        "apprenticeship_certificate_id": apprenticeship_certificate.id, "person_id": learner.id,
        "standard_id": version.standard_id, "organisation_id": team.organisation_id, "team_id": team.id,
        "message_id": message.id if message else 1, "key": "lesson-1", "slug": course.slug,
    }


@pytest.fixture
def outsiders():
    coordinator = make_coordinator("lewisham.coordinator@example.org", scope=(LEWISHAM,), organisation_code=LEWISHAM)
    apprentice = make_apprentice("lewisham.apprentice@example.org", organisation_code=LEWISHAM)
    supervisor = make_supervisor("lewisham.supervisor@example.org", organisation_code=LEWISHAM)
    own = make_apprenticeship(apprentice, standard_version=make_standard_version("ST0118", title="Data analyst"),
                              employer_code=LEWISHAM)
    make_placement(own, supervisor=supervisor, host_code=LEWISHAM)
    learner = make_person("lewisham.learner@example.org", roles=(Role.LEARNER,), organisation_code=LEWISHAM)
    return {"coordinator": coordinator, "apprentice": apprentice, "supervisor": supervisor, "learner": learner}


def object_routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.arguments and rule.endpoint not in NOT_OBJECT_ROUTES:
            yield rule


def changes() -> tuple[int, int]:
    db.session.expire_all()
    return (db.session.scalar(select(func.count()).select_from(AuditEvent)),
            db.session.scalar(select(func.count()).select_from(OutboundEmail)))


def test_every_object_route_is_checked_or_declared_open(app):
    declared = OPEN_BY_DESIGN | NOT_OBJECT_ROUTES
    unknown = [e for e in declared if e not in app.view_functions]
    assert not unknown, f"declared routes that do not exist: {unknown}"


@pytest.mark.parametrize("persona", ["coordinator", "apprentice", "supervisor", "learner"])
def test_people_outside_an_objects_scope_are_refused_on_every_route(app, new_client, hackney_world, outsiders,
                                                                     persona):
    client = new_client()
    sign_in(client, outsiders[persona])
    token = csrf_token(client, "/account/password")
    before = changes()
    allowed = []
    for rule in object_routes(app):
        if rule.endpoint in OPEN_BY_DESIGN:
            continue
        values = dict(hackney_world)
        if rule.endpoint.startswith("certificates.") and "apprenticeship" in persona:
            values["certificate_id"] = hackney_world["apprenticeship_certificate_id"]
        given = {name: values[name] for name in rule.arguments if name not in (rule.defaults or {})}
        path = rule.build({**given, **(rule.defaults or {})}, append_unknown=False)[1]
        for method in sorted(rule.methods & {"GET", "POST"}):
            data = {"csrf_token": token, "reason": "Because", "decision": "approve", "email": "x@example.org",
                    "roles": ["learner"]} if method == "POST" else None
            status = client.open(path, method=method, data=data).status_code
            if status not in (403, 404):
                allowed.append(f"{method} {path} ({rule.endpoint}) gave {status}")
    assert not allowed, f"{persona} of Lewisham reached Hackney's objects:\n" + "\n".join(allowed)
    assert changes() == before
