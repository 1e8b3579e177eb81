"""Taking turns: a request that checks the database and then writes (a daily limit, a duplicate) holds a lock
first, so two requests doing the same at the same moment cannot both pass the check.

PostgreSQL locks the rows themselves (``SELECT … FOR UPDATE``, in id order so two lockers never deadlock); the
lock is held until the transaction ends, and a waiting request then reads what the first one committed. SQLite
has one writer at a time for the whole file: a write that changes nothing takes that lock now, before the
checks read (the driver opens the transaction at the first write), and holds it until commit or rollback.
"""

from __future__ import annotations

from sqlalchemy import Table, func, select, update

from app.extensions import db


def lock_rows(table: Table, *where) -> None:
    """Hold the rows of ``table`` matching ``where`` until the end of the transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(table.c.id).where(*where).order_by(table.c.id).with_for_update())
    else:
        db.session.execute(update(table).where(*where).values(id=table.c.id))


def lock_name(table: Table, name: str) -> None:
    """Hold a lock named ``name`` until the end of the transaction, for a check that counts rows of ``table``
    (a rate limit) before adding one. PostgreSQL: a transaction-level advisory lock on the name's hash;
    SQLite: the database's write lock, taken by a write to ``table`` that changes nothing."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(name, 0))))
    else:
        db.session.execute(update(table).where(table.c.id.is_(None)).values(id=table.c.id))
