"""What the supervisor's home shows: how they stand and what to do next.

The off-the-job hours waiting for their approval (the queue of the supervising page, oldest first), the progress
reviews waiting for their signature as the employer, the apprentices placed with them now with each one's rating
from the cohort review, and which of those placements end soon. Only placements they supervise are read, and a
fixed number of statements however many apprentices, entries and reviews there are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from app import policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipReviewRow,
    Organisation,
    Person,
    Placement,
    RiskRating,
    SigningParty,
    Team,
)
from app.services import apprenticeships, progress_reviews, risk
from app.services import off_the_job as otj
from app.services.apprenticeships import name_of

# The oldest entries waiting for approval that the panel lists; the supervising page has the whole queue.
OLDEST_SHOWN = 3
# Reviews to sign listed on the panel, oldest first.
REVIEWS_SHOWN = 5
# A placement ending within this many days is named as ending soon, so the next one can be arranged in time.
ENDING_SOON_DAYS = 28
# The colours of the GOV.UK tags for the ratings; the tag's words always carry the rating too.
RATING_TAG_COLOURS = {RiskRating.RED: "red", RiskRating.AMBER: "orange", RiskRating.GREEN: "green"}
# An apprenticeship's rating before its flags are first worked out, as the cohort review shows it.
NOT_WORKED_OUT = "Not worked out yet"


@dataclass(frozen=True)
class WaitingEntry:
    id: int
    apprenticeship_id: int
    apprentice_name: str
    occurred_on: date
    minutes: int

    @property
    def duration(self) -> str:
        return otj.describe_minutes(self.minutes)


@dataclass(frozen=True)
class ReviewToSign:
    review_id: int
    apprenticeship_id: int
    sequence: int
    apprentice_name: str


@dataclass(frozen=True)
class FlagShown:
    label: str
    rating: RiskRating


@dataclass(frozen=True)
class PlacedApprentice:
    """An apprentice on a placement with the supervisor today, with their rating from the cohort review."""

    placement_id: int
    apprenticeship_id: int
    apprentice_name: str
    team_name: str
    host_organisation_name: str
    starts_on: date
    ends_on: date
    rating: RiskRating | None  # None until the flags are first worked out
    flags: tuple[FlagShown, ...]
    next_placement_arranged: bool
    ending_soon: bool

    @property
    def rating_label(self) -> str:
        return self.rating.label if self.rating else NOT_WORKED_OUT

    @property
    def rating_colour(self) -> str | None:
        return RATING_TAG_COLOURS[self.rating] if self.rating else None


@dataclass(frozen=True)
class SupervisorPanel:
    waiting_count: int
    oldest_waiting: tuple[WaitingEntry, ...]
    reviews_to_sign: tuple[ReviewToSign, ...]
    reviews_to_sign_count: int
    placed: tuple[PlacedApprentice, ...]
    ending_soon_days: int = ENDING_SOON_DAYS

    @property
    def ending_soon(self) -> tuple[PlacedApprentice, ...]:
        return tuple(sorted((p for p in self.placed if p.ending_soon), key=lambda p: (p.ends_on, p.placement_id)))

    @property
    def ratings(self) -> dict[str, int]:
        """How many apprentices placed now have each rating, red first (only ratings someone has)."""
        counts = {}
        for label in [r.label for r in risk.RATING_ORDER] + [NOT_WORKED_OUT]:
            n = sum(1 for p in self.placed if p.rating_label == label)
            if n:
                counts[label] = n
        return counts


def panel(person: Person, today: date) -> SupervisorPanel | None:
    """The supervisor's panel, or None when the person is not one."""
    if not policy.is_supervisor(person):
        return None
    queue = otj.approval_queue(person, per_page=OLDEST_SHOWN)
    oldest = tuple(WaitingEntry(e.id, e.apprenticeship_id, e.apprentice_name, e.occurred_on, e.minutes)
                   for e in queue.items)
    to_sign = [w for w in progress_reviews.reviews_waiting_for(person) if SigningParty.EMPLOYER in w.parties]
    return SupervisorPanel(
        waiting_count=queue.total, oldest_waiting=oldest,
        reviews_to_sign=_named(to_sign[:REVIEWS_SHOWN]), reviews_to_sign_count=len(to_sign),
        placed=_placed_now(person, today),
    )


@cache
def _apprentice_names():
    return (select(Apprenticeship.id, name_of(Person, Apprenticeship.apprentice_id))
            .where(Apprenticeship.id.in_(bindparam("ids", expanding=True))))


def _named(waiting) -> tuple[ReviewToSign, ...]:
    if not waiting:
        return ()
    names = dict(db.session.connection().execute(
        _apprentice_names(), {"ids": sorted({w.apprenticeship_id for w in waiting})}).all())
    return tuple(ReviewToSign(w.review_id, w.apprenticeship_id, w.sequence, names[w.apprenticeship_id])
                 for w in waiting)


@cache
def _placed_now_query():
    """Built once: the placements ``:supervisor_id`` supervises on ``:today`` of apprenticeships in progress,
    with the names shown, the cohort review's rating and flags, and whether a placement follows."""
    row = ApprenticeshipReviewRow
    later = aliased(Placement)
    following = (select(later.id)
                 .where(later.apprenticeship_id == Apprenticeship.id, later.starts_on > bindparam("today"))
                 .correlate(Apprenticeship).exists())
    return (
        select(Placement.id, Placement.apprenticeship_id, name_of(Person, Apprenticeship.apprentice_id),
               name_of(Team, Placement.team_id), name_of(Organisation, Placement.host_organisation_id),
               Placement.starts_on, Placement.ends_on, row.rating, row.flags, following)
        .join(Apprenticeship, Apprenticeship.id == Placement.apprenticeship_id)
        .outerjoin(row, row.apprenticeship_id == Apprenticeship.id)
        .where(Placement.supervisor_id == bindparam("supervisor_id"), Placement.ends_on >= bindparam("today"),
               Placement.starts_on <= bindparam("today"), Apprenticeship.status.in_(apprenticeships.IN_PROGRESS))
    )


def _placed_now(person: Person, today: date) -> tuple[PlacedApprentice, ...]:
    soon = today + timedelta(days=ENDING_SOON_DAYS)
    rows = db.session.connection().execute(_placed_now_query(), {"supervisor_id": person.id, "today": today})
    placed = []
    for (placement_id, apprenticeship_id, name, team, host, starts_on, ends_on, rating, flags,
         following) in rows:
        rating = RiskRating(rating) if rating is not None else None
        shown = tuple(FlagShown(risk.CODES.get(code, code), RiskRating(flag_rating))
                      for code, flag_rating, _reason in json.loads(flags or "[]"))
        placed.append(PlacedApprentice(placement_id, apprenticeship_id, name, team, host, starts_on, ends_on,
                                       rating, shown, bool(following), ends_on <= soon))
    # Red first, then amber, green and those not worked out yet; by name within each.
    unrated = len(risk.RATING_ORDER)
    placed.sort(key=lambda p: (risk.RATING_ORDER.get(p.rating, unrated), p.apprentice_name.casefold(),
                               p.placement_id))
    return tuple(placed)
