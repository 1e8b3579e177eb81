"""A large, seeded apprenticeship dataset for benchmarks: by default 10,000 apprentices, 40,000 placements
and 500,000 off-the-job entries, written with bulk inserts (minutes on SQLite, a few minutes on PostgreSQL).

Dates are spread over the two years before today, so the data looks like a programme in full swing:
starts across 24 monthly intakes, four placements each (one current), reviews scheduled at the rule
set's interval, and mostly approved hours with some waiting and a few rejected.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    EnglishMaths,
    Intake,
    Ksb,
    KsbKind,
    Organisation,
    OtjActivity,
    OtjStatus,
    Person,
    Placement,
    ProgressReview,
    Role,
    RoleGrant,
    Standard,
    StandardVersion,
    StatusChange,
    Team,
)
from app.models.apprenticeships import otj_activity_ksb
from app.models.types import utcnow
from app.services import apprenticeship_rules, clock

COUNTING = sorted(apprenticeship_rules.COUNTING_ACTIVITIES)
CHUNK = 20_000


def _insert(model_or_table, rows: list[dict]) -> None:
    for i in range(0, len(rows), CHUNK):
        db.session.execute(insert(model_or_table), rows[i:i + CHUNK])


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def generate(apprentices: int = 10_000, placements_each: int = 4, otj_each: int = 50, seed: int = 2026,
             progress=print) -> dict:
    """Fill the database (reference organisations already loaded). Returns the ids benchmarks need."""
    rng = random.Random(seed)
    today = clock.today()
    now = utcnow()
    boroughs = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()

    # Standards: five versions of 20 KSBs each.
    versions = []
    for n in range(5):
        standard = Standard(reference=f"STB{n:03d}", title=f"Benchmark standard {n}", level=3 + n % 2, route="Digital")
        version = StandardVersion(standard=standard, version="1.0", lars_code=900 + n, typical_duration_months=24,
                                  otj_minimum_hours=400, epa_grades=["fail", "pass", "distinction"])
        db.session.add(version)
        for position in range(1, 21):
            kind = KsbKind.KNOWLEDGE if position <= 8 else KsbKind.SKILL if position <= 16 else KsbKind.BEHAVIOUR
            code = {"knowledge": "K", "skill": "S", "behaviour": "B"}[kind.value]
            number = position if position <= 8 else position - 8 if position <= 16 else position - 16
            db.session.add(Ksb(standard_version=version, code=f"{code}{number}", kind=kind, position=position,
                               title=f"Benchmark {code}{number}"))
        versions.append(version)
    db.session.flush()
    ksbs_by_version = {v.id: [k.id for k in v.ksbs] for v in versions}

    # Teams: three per organisation.
    team_rows = [{"organisation_id": o.id, "name": f"Bench team {t}", "apprentice_capacity": None}
                 for o in boroughs for t in range(3)]
    _insert(Team, team_rows)
    teams = db.session.execute(select(Team.id, Team.organisation_id).where(Team.name.like("Bench team %"))).all()

    # People: apprentices, one supervisor per 5 apprentices, a coordinator for the intakes.
    first_person = _next_id(Person)
    supervisors = max(1, apprentices // 5)
    people = []
    for i in range(apprentices + supervisors + 1):
        people.append({"id": first_person + i, "email": f"bench{i}@example.org", "name": f"Bench person {i}",
                       "organisation_id": boroughs[i % len(boroughs)].id, "active": True, "session_version": 1,
                       "created_at": now})
    _insert(Person, people)
    apprentice_ids = [first_person + i for i in range(apprentices)]
    supervisor_ids = [first_person + apprentices + i for i in range(supervisors)]
    coordinator_id = first_person + apprentices + supervisors
    _insert(RoleGrant, [{"person_id": pid, "role": Role.APPRENTICE} for pid in apprentice_ids]
            + [{"person_id": pid, "role": Role.SUPERVISOR} for pid in supervisor_ids]
            + [{"person_id": coordinator_id, "role": Role.COORDINATOR, "organisation_id": None}])
    progress(f"  {len(people)} people")

    # Intakes: one a month for two years.
    intake_rows, first_intake = [], _next_id(Intake)
    for m in range(24):
        starts = apprenticeship_rules.add_months(today.replace(day=1), -24 + m)
        intake_rows.append({"id": first_intake + m, "name": f"Bench intake {starts:%B %Y}", "starts_on": starts,
                            "coordinator_id": coordinator_id, "created_at": now})
    _insert(Intake, intake_rows)

    # Apprenticeships, with their status change, placements and reviews.
    first_apprenticeship = _next_id(Apprenticeship)
    apprenticeship_rows, change_rows, placement_rows, review_rows, spans = [], [], [], [], []
    first_placement = _next_id(Placement)
    for i, person_id in enumerate(apprentice_ids):
        intake = intake_rows[i % 24]
        version = versions[i % len(versions)]
        starts = intake["starts_on"]
        planned_end = apprenticeship_rules.add_months(starts, 24)
        rule_set = apprenticeship_rules.rule_set_for(starts)
        planned = apprenticeship_rules.planned_otj_hours(rule_set, start=starts, planned_end=planned_end,
                                                         weekly_hours=Decimal(37), published_minimum=400)
        aid = first_apprenticeship + i
        apprenticeship_rows.append({
            "id": aid, "apprentice_id": person_id, "intake_id": intake["id"], "standard_version_id": version.id,
            "employer_id": boroughs[i % len(boroughs)].id, "training_provider": "Bench Training",
            "starts_on": starts, "planned_end_on": planned_end, "weekly_hours": Decimal(37), "rule_set": rule_set.key,
            "planned_otj_hours_by_rule": planned, "planned_otj_hours": planned, "english_maths": EnglishMaths.ACHIEVED,
            "status": ApprenticeshipStatus.ACTIVE, "status_changed_at": now, "created_at": now,
        })
        change_rows.append({"apprenticeship_id": aid, "from_status": None, "to_status": ApprenticeshipStatus.ACTIVE,
                            "effective_on": starts, "reason": "Apprenticeship started", "changed_at": now})
        # Placements split the period up to today + 6 months; the last one is current.
        horizon = today + timedelta(days=180)
        length = max(30, (horizon - starts).days // placements_each)
        for p in range(placements_each):
            p_start = starts + timedelta(days=p * length)
            p_end = horizon if p == placements_each - 1 else p_start + timedelta(days=length - 1)
            team_id, org_id = teams[(i * 7 + p) % len(teams)]
            placement_rows.append({
                "id": first_placement + len(placement_rows), "apprenticeship_id": aid, "host_organisation_id": org_id,
                "team_id": team_id, "supervisor_id": supervisor_ids[(i + p * 31) % len(supervisor_ids)],
                "starts_on": p_start, "ends_on": p_end, "objectives": "Benchmark objectives", "created_at": now,
            })
        spans.append((aid, version.id, starts, min(today - timedelta(days=1), planned_end),
                      placement_rows[-placements_each:]))
        for n, due in enumerate(apprenticeship_rules.review_due_dates(rule_set, starts, planned_end), start=1):
            review_rows.append({"apprenticeship_id": aid, "sequence": n, "due_on": due,
                                "held_on": due if due < today else None})
    _insert(Apprenticeship, apprenticeship_rows)
    _insert(StatusChange, change_rows)
    _insert(Placement, placement_rows)
    _insert(ProgressReview, review_rows)
    progress(f"  {len(apprenticeship_rows)} apprenticeships, {len(placement_rows)} placements, "
             f"{len(review_rows)} reviews")

    # Off-the-job entries: spread over each apprenticeship's days so far, on the placement in force.
    first_activity = _next_id(OtjActivity)
    activity_rows, link_rows = [], []
    for aid, version_id, starts, last, placements in spans:
        days = max(1, (last - starts).days)
        ksb_ids = ksbs_by_version[version_id]
        for n in range(otj_each):
            day = starts + timedelta(days=(n * days) // otj_each)
            placement = next((p for p in placements if p["starts_on"] <= day <= p["ends_on"]), placements[-1])
            roll = rng.random()
            status = OtjStatus.APPROVED if roll < 0.9 else OtjStatus.SUBMITTED if roll < 0.98 else OtjStatus.REJECTED
            activity_id = first_activity + len(activity_rows)
            activity_rows.append({
                "id": activity_id, "apprenticeship_id": aid, "placement_id": placement["id"], "occurred_on": day,
                "minutes": rng.choice((60, 90, 120, 180, 240, 360)), "activity_type": rng.choice(COUNTING),
                "description": f"Benchmark learning {n}", "status": status,
                "logged_by_id": apprentice_ids[aid - first_apprenticeship], "logged_at": now,
                "decided_by_id": None if status is OtjStatus.SUBMITTED else placement["supervisor_id"],
                "decided_at": None if status is OtjStatus.SUBMITTED else now,
            })
            link_rows.append({"otj_activity_id": activity_id, "ksb_id": ksb_ids[n % len(ksb_ids)]})
        if len(activity_rows) >= 100_000:
            _insert(OtjActivity, activity_rows)
            _insert(otj_activity_ksb, link_rows)
            first_activity += len(activity_rows)
            progress(f"  {first_activity - 1} off-the-job entries so far")
            activity_rows, link_rows = [], []
    _insert(OtjActivity, activity_rows)
    _insert(otj_activity_ksb, link_rows)
    db.session.commit()
    # Fresh planner statistics, as autovacuum (PostgreSQL) or a routine ANALYZE would give a live database
    # after a bulk load; without them PostgreSQL plans for empty tables.
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    total = db.session.scalar(select(func.count()).select_from(OtjActivity))
    progress(f"  {total} off-the-job entries")
    return {"apprenticeship_ids": [r["id"] for r in apprenticeship_rows], "supervisor_ids": supervisor_ids,
            "coordinator_id": coordinator_id}
