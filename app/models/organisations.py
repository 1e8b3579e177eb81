from __future__ import annotations

import enum

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


class OrganisationKind(enum.StrEnum):
    LONDON_BOROUGH = "london_borough"
    CITY_OF_LONDON = "city_of_london"
    PARTNER = "partner"

    @property
    def label(self) -> str:
        return {
            "london_borough": "London borough",
            "city_of_london": "City of London",
            "partner": "Partner body",
        }[self.value]

    @property
    def is_local_authority(self) -> bool:
        return self is not OrganisationKind.PARTNER


class Organisation(db.Model):
    """A London local authority or a partner body taking part in Pathways."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # ONS code for local authorities (E09000001–E09000033); a short code of our own for partners.
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(
        Enum(OrganisationKind, native_enum=False, length=30, values_callable=lambda e: [m.value for m in e])
    )
    active: Mapped[bool] = mapped_column(default=True)

    teams: Mapped[list[Team]] = relationship(back_populates="organisation", order_by="Team.name")

    def __repr__(self) -> str:
        return f"<Organisation {self.code} {self.name}>"


class Team(db.Model):
    """A team inside an organisation (where apprentices are placed, where leaders work)."""

    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # How many apprentices the team can host at once; empty means no limit has been set.
    apprentice_capacity: Mapped[int | None]

    organisation: Mapped[Organisation] = relationship(back_populates="teams")
