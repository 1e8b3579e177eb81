"""The cohort review's rows (``ApprenticeshipReviewRow``), kept current: one row per apprenticeship with
everything the review shows, sorts and filters on, and the organisations that may see it
(``ApprenticeshipReviewScope``: the employer and every placement's host, as ``policy.apprenticeship_scope_filter``).

Who writes them:

- ``risk.refresh_flags`` rewrites the rows of everyone it refreshes (the daily job, "Refresh the flags now");
- ``refresh_for(apprenticeship_ids)`` is what the services call after changing a record, its placements or its
  off-the-job hours: it works that apprenticeship's flags out again (a refresh of one record, a few
  milliseconds) and rewrites its row, so the rating, the flags and the hours on the review agree and are
  current at once; ``refresh_for(people=..., intakes=...)`` rewrites the rows that show a changed name;
- ``fill_missing()``, from the review pages: a record added without a row (by a bulk import, say) gets one
  showing the flags of the last refresh, or "Not worked out yet".

``write`` does it for any set of apprenticeships in a fixed number of statements: three selects (the records,
their placements, their flags and standings unless given), two DELETEs and two bulk INSERTs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from sqlalchemy import String, bindparam, cast, delete, exists, func, insert, or_, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipReviewRow,
    ApprenticeshipReviewScope,
    ApprenticeshipStatus,
    Intake,
    Organisation,
    Person,
    Placement,
    RiskFlag,
    RiskRating,
    RiskStanding,
    Standard,
    StandardVersion,
)
from app.models.types import utcnow

# Lifecycle order, for sorting by status.
STATUS_ORDER = [ApprenticeshipStatus.ACTIVE, ApprenticeshipStatus.BREAK_IN_LEARNING, ApprenticeshipStatus.GATEWAY,
                ApprenticeshipStatus.END_POINT_ASSESSMENT, ApprenticeshipStatus.COMPLETED,
                ApprenticeshipStatus.WITHDRAWN]
# Progress bands of the review's histogram: % of the off-the-job hours expected by today.
PROGRESS_BANDS = (("Under 75%", None, 75), ("75% to 89%", 75, 90), ("90% to 99%", 90, 100),
                  ("100% or more", 100, None))
NO_BAND = -1

Row = ApprenticeshipReviewRow
Scope = ApprenticeshipReviewScope
Employer = aliased(Organisation, name="employer")


def progress_band(percent: int | None) -> int:
    """The index in ``PROGRESS_BANDS`` of a percentage, ``NO_BAND`` without one."""
    if percent is None:
        return NO_BAND
    return next(n for n, (_label, _low, high) in enumerate(PROGRESS_BANDS) if high is None or percent < high)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _ids(apprenticeship_ids) -> list[int] | None:
    return None if apprenticeship_ids is None else sorted({int(i) for i in apprenticeship_ids})


@lru_cache(maxsize=8)
def _statements(scoped: bool, read_standings: bool) -> dict:
    """The statements of ``write`` for everyone, or (``scoped``) for the apprenticeships given as ``ids``: built
    once, since building them costs more than running them for the one record a change rewrites."""
    a = Apprenticeship
    ids = bindparam("ids", expanding=True)
    records = (select(a.id, a.apprentice_id, Person.name, Person.email, a.employer_id, Employer.name,
                      StandardVersion.standard_id, Standard.title, Standard.reference, Standard.level, a.intake_id,
                      Intake.name, a.status, a.starts_on, a.planned_end_on, a.actual_end_on)
               .join(Person, Person.id == a.apprentice_id)
               .join(Employer, Employer.id == a.employer_id)
               .join(StandardVersion, StandardVersion.id == a.standard_version_id)
               .join(Standard, Standard.id == StandardVersion.standard_id)
               .outerjoin(Intake, Intake.id == a.intake_id))
    if read_standings:
        records = (records.add_columns(RiskStanding.rating, RiskStanding.approved_hours, RiskStanding.expected_hours,
                                       RiskStanding.percent_of_expected, RiskStanding.found_at)
                   .outerjoin(RiskStanding, RiskStanding.apprenticeship_id == a.id))
    # The dates as ISO text, as the row keeps them, rather than made into dates and back.
    placements = (select(Placement.apprenticeship_id, cast(Placement.starts_on, String),
                         cast(Placement.ends_on, String), Placement.host_organisation_id, Organisation.name)
                  .join(Organisation, Organisation.id == Placement.host_organisation_id)
                  .order_by(Placement.apprenticeship_id, Placement.starts_on, Placement.id))
    flags = select(RiskFlag.apprenticeship_id, RiskFlag.code, RiskFlag.rating, RiskFlag.reason)
    deletes = [delete(Row), delete(Scope)]
    if scoped:
        records = records.where(a.id.in_(ids))
        placements = placements.where(Placement.apprenticeship_id.in_(ids))
        flags = flags.where(RiskFlag.apprenticeship_id.in_(ids))
        deletes = [delete(model).where(model.apprenticeship_id.in_(ids)) for model in (Row, Scope)]
    else:
        flags = flags.where(RiskFlag.apprenticeship_id.is_not(None))
    return {"records": records, "placements": placements, "flags": flags, "deletes": deletes,
            "rows": insert(Row.__table__), "scope": insert(Scope.__table__)}


def write(apprenticeship_ids: Iterable[int] | None = None, *, standings: dict[int, dict] | None = None,
          flags: dict[int, list[tuple]] | None = None, locked: bool = False) -> int:
    """Rewrite the review rows of these apprenticeships (every apprenticeship with None) from the records, in the
    caller's transaction. ``standings`` (by apprenticeship: ``rating``, ``approved_hours``, ``expected_hours``,
    ``percent_of_expected``, ``found_at``) and ``flags`` (by apprenticeship: (code, rating, reason)) are what a
    refresh has just worked out; without them the latest ``risk_standing`` and ``risk_flag`` rows are read.
    ``locked``: the caller already holds the refresh lock (``risk.lock_out_other_refreshes``). Returns how many
    rows were written."""
    from app.services import risk

    ids = _ids(apprenticeship_ids)
    if ids == []:
        return 0
    if not locked:
        risk.lock_out_other_refreshes(apprenticeship_ids=ids, enrolment_ids=[])
    statements = _statements(ids is not None, standings is None)
    values = {} if ids is None else {"ids": ids}
    records = db.session.execute(statements["records"], values).all()
    spans: dict[int, list] = defaultdict(list)
    for aid, starts_on, ends_on, host_id, host in db.session.execute(statements["placements"], values):
        spans[aid].append((starts_on, ends_on, host_id, host))
    if flags is None:
        flags = defaultdict(list)
        for aid, code, rating, reason in db.session.execute(statements["flags"], values):
            flags[aid].append((code, rating, reason))

    written_at = utcnow()
    rows, scope = [], []
    for record in records:
        aid = record.id
        if standings is None:
            rating, approved, expected, percent, found_at = record[16:21]
            standing = None if rating is None else {
                "rating": rating, "approved_hours": approved, "expected_hours": expected,
                "percent_of_expected": percent, "found_at": found_at}
        else:
            standing = standings.get(aid)
        rows.append(_row(record, standing, flags.get(aid, ()), spans.get(aid, ()), written_at))
        hosts = {record.employer_id} | {host_id for _s, _e, host_id, _h in spans.get(aid, ())}
        scope += [{"apprenticeship_id": aid, "organisation_id": organisation_id, "intake_id": record.intake_id,
                   "employer_id": record.employer_id, "standard_id": record.standard_id}
                  for organisation_id in hosts]

    for replaced in statements["deletes"]:
        db.session.execute(replaced, values)
    # Core, not the ORM's bulk insert (one INSERT for every row, whatever its null columns).
    if rows:
        db.session.execute(statements["rows"], rows)
        db.session.execute(statements["scope"], scope)
    return len(rows)


def _row(record, standing: dict | None, flags, spans, written_at: datetime) -> dict:
    from app.services import risk

    status = ApprenticeshipStatus(record.status)
    name, email = record.name, record.email
    shown = sorted(((code, RiskRating(rating), reason) for code, rating, reason in flags),
                   key=lambda f: (risk.RATING_ORDER[f[1]], risk.CODE_ORDER.get(f[0], len(risk.CODE_ORDER))))
    mask = 0
    for code, _rating, _reason in shown:
        mask |= 1 << risk.CODE_ORDER.get(code, len(risk.CODE_ORDER))
    rating = None if standing is None else RiskRating(standing["rating"])
    percent = None if standing is None else standing["percent_of_expected"]
    return {
        "apprenticeship_id": record.id, "person_id": record.apprentice_id, "name": name,
        "sort_name": name.casefold(), "email": email, "search_text": f"{name.lower()}\n{email.lower()}",
        "employer_id": record.employer_id, "employer_name": record[5], "standard_id": record.standard_id,
        "standard_label": f"{record.title} ({record.reference}, level {record.level})",
        "intake_id": record.intake_id, "intake_name": record[11] or "", "status": status,
        "status_order": STATUS_ORDER.index(status), "starts_on": record.starts_on,
        "ends_on": record.actual_end_on or record.planned_end_on,
        "pending": 1 if standing is None else 0, "rating": rating,
        "rating_rank": None if rating is None else risk.RATING_ORDER[rating],
        "approved_hours": None if standing is None else standing["approved_hours"],
        "expected_hours": None if standing is None else standing["expected_hours"],
        "percent_of_expected": percent, "progress_band": progress_band(percent), "flag_mask": mask,
        "flags": _json([[code, rating.value, reason] for code, rating, reason in shown]),
        "placements": _json([[starts_on, ends_on, host_id, host] for starts_on, ends_on, host_id, host in spans]),
        "worked_out_at": None if standing is None else standing["found_at"], "written_at": written_at,
    }


def refresh_for(apprenticeship_ids: Iterable[int] = (), *, people: Iterable[int] = (),
                intakes: Iterable[int] = ()) -> None:
    """After a change, in the caller's transaction: ``apprenticeship_ids`` (a record, its placements or its
    off-the-job hours changed) get their flags and standings worked out again and their rows rewritten;
    the apprenticeships of ``people`` (a name or an email changed) and of ``intakes`` (a name changed) get their
    rows rewritten with the flags they have."""
    from app.services import risk

    ids = _ids(i for i in apprenticeship_ids if i is not None)
    if ids:
        risk.refresh_flags(apprenticeship_ids=ids, enrolment_ids=[])
    people, intakes = _ids(people), _ids(intakes)
    if people or intakes:
        conditions = []
        if people:
            conditions.append(Apprenticeship.apprentice_id.in_(people))
        if intakes:
            conditions.append(Apprenticeship.intake_id.in_(intakes))
        write(db.session.scalars(select(Apprenticeship.id).where(or_(*conditions))))


# The newest record and the newest row (each one step into an index): the same unless a record has no row.
NEWEST = select(select(func.max(Apprenticeship.id)).scalar_subquery(),
                select(func.max(Row.apprenticeship_id)).scalar_subquery())


def fill_missing() -> bool:
    """Write the rows of apprenticeships that have none (added since, without the services): one cheap check
    (the newest record against the newest row), and only when they differ a look for the missing and a write.
    True when rows were written (the caller commits)."""
    newest_record, newest_row = db.session.execute(NEWEST).one()
    if newest_record == newest_row:
        return False
    missing = list(db.session.scalars(select(Apprenticeship.id).where(
        ~exists().where(Row.apprenticeship_id == Apprenticeship.id))))
    return bool(missing) and write(missing) > 0


def last_written() -> datetime | None:
    """When any row was last written: what the exports' ETag is keyed on."""
    return db.session.scalar(select(func.max(Row.written_at)))
