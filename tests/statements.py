"""Counting the SQL statements a piece of work sends, to prove a page's count does not grow with the data."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from app.extensions import db


@contextmanager
def counting_statements():
    """Every statement sent to the database meanwhile, on any connection."""
    statements: list[str] = []

    def count(_connection, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
