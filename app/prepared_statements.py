"""On PostgreSQL, each page's statements are planned once per connection rather than on every request.

psycopg prepares a statement on the server once it has run five times on a connection, and forgets every prepared
statement whenever a transaction rolls back (the rollback might have undone something they refer to). A request
that only reads ends with its transaction rolled back, so nothing ever stayed prepared, and PostgreSQL parsed and
planned every statement of every page again: as much work as running them. A transaction that wrote nothing is
ended with COMMIT instead, which for it is the same as a rollback, and its statements stay prepared. Anything that
may have written (any statement but a SELECT, savepoints included) is rolled back as before."""

from __future__ import annotations

from psycopg import pq
from sqlalchemy import event
from sqlalchemy.engine import Engine

_WROTE = "pathways_transaction_wrote"


def keep_prepared_statements(engine: Engine) -> None:
    """Listen on ``engine`` (PostgreSQL through psycopg) for transactions that wrote nothing."""

    @event.listens_for(engine, "begin")
    def _begun(connection) -> None:
        connection.info[_WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _note_writes(connection, _cursor, statement, _parameters, context, _executemany) -> None:
        if connection.info.get(_WROTE):
            return
        if statement.lstrip()[:6].upper() != "SELECT" or (
                context is not None and (context.isinsert or context.isupdate or context.isdelete)):
            connection.info[_WROTE] = True

    @event.listens_for(engine, "rollback")
    def _commit_reads(connection) -> None:
        if connection.info.get(_WROTE, True):
            return
        driver = connection.connection.driver_connection
        # Only a healthy open transaction: a failed one is rolled back as it must be.
        if driver is not None and driver.pgconn.transaction_status == pq.TransactionStatus.INTRANS:
            # SQLAlchemy's rollback that follows finds nothing left to roll back, and psycopg keeps its statements.
            driver.commit()
