"""Signed-in sessions, each recorded on the server, so that one can be ended for every copy of its cookie.

Signing in starts a ``UserSession`` and puts a random key (32 bytes) in the signed session cookie; the record keeps
only the key's SHA-256 digest, so the table (or a backup of it) signs nobody in. Every request checks the record
in the same query that loads the person: a session ends when the person signs out (or ends it from another
device), when their session version moves on (a password change or reset, deactivation), SESSION_ABSOLUTE_HOURS
after signing in however active it is, and after SESSION_IDLE_MINUTES unused. The cookie carries its own signed
idle expiry too; the record's last use is written at most once a minute, so most requests write nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import Person, SessionEnd, UserSession
from app.models.types import utcnow
from app.services import audit

# The key of the session's record, in the signed cookie.
COOKIE_KEY = "session_key"
# How often a session's last use is written; also the slack allowed on the idle limit, so the record never ends a
# session sooner than its cookie would.
TOUCH_EVERY = timedelta(minutes=1)
PURGE_AFTER = timedelta(days=30)


class SessionNotFound(LookupError):
    """No active session of this person with that id (or it is the one in use)."""


def check_settings(config) -> None:
    """Refuse to start with a lifetime that would end every session at once."""
    hours = config.get("SESSION_ABSOLUTE_HOURS")
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        raise RuntimeError(f"SESSION_ABSOLUTE_HOURS must be a whole number of hours, 1 or more; got {hours!r}")


def absolute_lifetime() -> timedelta:
    return timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])


def idle_lifetime() -> timedelta:
    return current_app.config["PERMANENT_SESSION_LIFETIME"]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# Starting a session -----------------------------------------------------------------------------------------------


def start(person: Person, user_agent: str, client_address: str) -> str:
    """Record a new session of ``person`` and return its key, for the cookie. The caller commits."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(UserSession(
        person_id=person.id, key_digest=_digest(key), session_version=person.session_version, created_at=now,
        last_seen_at=now, expires_at=now + absolute_lifetime(), user_agent=(user_agent or "")[:255],
        client_address=(client_address or "")[:64],
    ))
    # Sessions of an older version already stopped working (a password reset, deactivation): say so on them.
    db.session.execute(
        update(UserSession)
        .where(UserSession.person_id == person.id, UserSession.ended_at.is_(None),
               UserSession.session_version < person.session_version)
        .values(ended_at=now, ended_reason=SessionEnd.SUPERSEDED)
    )
    return key


# Checking a session on every request -------------------------------------------------------------------------------


@cache
def _signed_in_statement():
    """Built once: the person, their organisation and roles (joined, as a person has a handful: a second "select
    in" statement costs more in SQLAlchemy's loaders than in the database) and their session's record."""
    return (
        select(Person, UserSession)
        .outerjoin(UserSession, and_(UserSession.person_id == Person.id,
                                     UserSession.key_digest == bindparam("digest")))
        .where(Person.id == bindparam("person_id"))
        .options(joinedload(Person.organisation), joinedload(Person.role_grants))
    )


def signed_in_person(person_id: int, version: int, key: str | None) -> Person | None:
    """The person whose session this is, with what every page shows of them, or None if the session has ended.

    One query for the person, their organisation, their roles and their session record, and
    at most once a minute one write of the session's last use."""
    row = db.session.execute(_signed_in_statement(), {"person_id": person_id, "digest": _digest(key) if key else ""}
                             ).unique().one_or_none()
    if row is None:
        return None
    person, record = row
    if record is None or record.ended_at is not None or person.session_version != version:
        return None
    now = utcnow()
    reason = _why_over(record, person, now)
    if reason is not None:
        _write_aside(update(UserSession).where(UserSession.id == record.id, UserSession.ended_at.is_(None))
                     .values(ended_at=now, ended_reason=reason))
        return None
    if now - record.last_seen_at >= TOUCH_EVERY:
        _write_aside(update(UserSession).where(UserSession.id == record.id, UserSession.ended_at.is_(None))
                     .values(last_seen_at=now))
    return person


def _why_over(record: UserSession, person: Person, now: datetime) -> SessionEnd | None:
    if record.session_version != person.session_version:
        return SessionEnd.SUPERSEDED
    if now >= record.expires_at:
        return SessionEnd.EXPIRED
    if now - record.last_seen_at > idle_lifetime() + TOUCH_EVERY:
        return SessionEnd.IDLE
    return None


def _write_aside(statement) -> None:
    """Run ``statement`` in a short transaction of its own, so the request's own work is neither committed with it
    nor held up by it. On SQLite, skipped while the request's own connection is writing (the second connection
    would wait for it): the next request does it."""
    if db.engine.dialect.name == "sqlite" and db.session.connection().connection.dbapi_connection.in_transaction:
        return
    with db.engine.begin() as connection:
        connection.execute(statement)


# The person's sessions --------------------------------------------------------------------------------------------


def _active(person: Person, now: datetime):
    return and_(UserSession.person_id == person.id, UserSession.ended_at.is_(None),
                UserSession.session_version == person.session_version, UserSession.expires_at > now,
                UserSession.last_seen_at >= now - idle_lifetime() - TOUCH_EVERY)


def is_current(record: UserSession, key: str | None) -> bool:
    return bool(key) and record.key_digest == _digest(key)


def active_sessions(person: Person, key: str | None) -> list[UserSession]:
    """The person's sessions still in use: this one first, then the most recently used."""
    records = db.session.scalars(
        select(UserSession).where(_active(person, utcnow()))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ).all()
    return sorted(records, key=lambda record: not is_current(record, key))


def end_current(key: str | None, reason: SessionEnd = SessionEnd.SIGNED_OUT) -> None:
    """End the session whose key is ``key`` (signing out). The caller commits."""
    if key:
        db.session.execute(update(UserSession).where(UserSession.key_digest == _digest(key),
                                                     UserSession.ended_at.is_(None))
                           .values(ended_at=utcnow(), ended_reason=reason))


def end_other(person: Person, key: str | None, record_id: int) -> UserSession:
    """End one other active session of ``person``; ``SessionNotFound`` for any session that is not theirs, has
    ended, or is this one. The caller commits."""
    now = utcnow()
    record = db.session.scalar(
        select(UserSession).where(UserSession.id == record_id, _active(person, now)).with_for_update()
    )
    if record is None or is_current(record, key):
        raise SessionNotFound(record_id)
    record.ended_at, record.ended_reason = now, SessionEnd.SIGNED_OUT_ELSEWHERE
    audit.record(person, "person.signed_out_elsewhere", person,
                 f"{person.name} signed out of {describe(record)}", sessions=[record.id])
    return record


def end_others(person: Person, key: str | None, reason: SessionEnd = SessionEnd.SIGNED_OUT_ELSEWHERE) -> list[int]:
    """End every other session of ``person`` that has not ended, keeping this one; the ids ended. The caller
    commits. Signing out everywhere else is audited; a password change is audited as such by the caller."""
    now = utcnow()
    ended = db.session.scalars(
        update(UserSession)
        .where(UserSession.person_id == person.id, UserSession.ended_at.is_(None),
               UserSession.key_digest != _digest(key or ""))
        .values(ended_at=now, ended_reason=reason)
        .returning(UserSession.id)
    ).all()
    ended = sorted(ended)
    if ended and reason is SessionEnd.SIGNED_OUT_ELSEWHERE:
        others = f"{len(ended)} other session{'s' if len(ended) != 1 else ''}"
        audit.record(person, "person.signed_out_elsewhere", person, f"{person.name} signed out of {others}",
                     sessions=ended)
    return ended


def keep_after_password_change(person: Person, key: str | None) -> list[int]:
    """After ``person`` changed their password in this session (their session version moved on): end the others
    and carry this one over to the new version. The caller commits."""
    ended = end_others(person, key, SessionEnd.PASSWORD_CHANGED)
    db.session.execute(update(UserSession).where(UserSession.key_digest == _digest(key or ""))
                       .values(session_version=person.session_version))
    return ended


def purge_old_sessions(older_than: timedelta = PURGE_AFTER) -> int:
    """Delete the records of sessions that ended (or ran out) more than ``older_than`` ago."""
    cutoff = utcnow() - older_than
    result = db.session.execute(
        delete(UserSession).where(or_(UserSession.ended_at < cutoff, UserSession.expires_at < cutoff))
    )
    return result.rowcount or 0


# Describing a device ----------------------------------------------------------------------------------------------

# First match wins: Edge and Opera say "Chrome" too, and Chrome says "Safari".
_BROWSERS = (("Edge", r"Edg(e|A|iOS)?/"), ("Opera", r"OPR/|Opera"), ("Samsung Internet", r"SamsungBrowser/"),
             ("Firefox", r"Firefox/|FxiOS/"), ("Chrome", r"Chrome/|CriOS/|Chromium/"), ("Safari", r"Version/.*Safari/"))
_SYSTEMS = (("iPhone", r"iPhone"), ("iPad", r"iPad"), ("Android", r"Android"), ("ChromeOS", r"CrOS"),
            ("Windows", r"Windows"), ("macOS", r"Macintosh|Mac OS X"), ("Linux", r"Linux|X11"))


def device(user_agent: str) -> str:
    """A short name for the browser and system a user agent names, such as "Firefox on Windows"."""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, user_agent or "")), None)
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, user_agent or "")), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "An unknown browser")


def describe(record: UserSession) -> str:
    return f"{device(record.user_agent)} ({record.client_address or 'unknown address'})"
