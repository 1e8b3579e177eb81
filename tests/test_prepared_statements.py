"""On PostgreSQL, a transaction that only read keeps its connection's prepared statements (psycopg forgets them on
every rollback, so it ends with COMMIT, which for it is the same); one that wrote, or failed, is rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.models import Organisation
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="psycopg's prepared statements: PostgreSQL")


def prepared(connection) -> int:
    return connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one()


def read_in_transactions(connection, times: int = 6) -> None:
    """The same read, each time in a transaction of its own that ends as a request's does: rolled back."""
    for _ in range(times):
        assert connection.execute(select(func.count()).select_from(Organisation)).scalar_one() > 0
        connection.rollback()


def test_a_read_repeated_across_transactions_is_prepared_once():
    with db.engine.connect() as connection:
        read_in_transactions(connection)
        assert prepared(connection) >= 1
        connection.rollback()


def test_a_transaction_that_wrote_is_still_rolled_back():
    organisation = db.session.scalar(select(Organisation).order_by(Organisation.id).limit(1))
    with db.engine.connect() as connection:
        read_in_transactions(connection)
        connection.execute(update(Organisation).where(Organisation.id == organisation.id).values(name="Renamed"))
        connection.rollback()
        assert connection.scalar(select(Organisation.name).where(Organisation.id == organisation.id)) == \
            organisation.name
        connection.rollback()


def test_a_read_after_a_write_in_the_same_transaction_is_rolled_back_with_it():
    organisation = db.session.scalar(select(Organisation).order_by(Organisation.id).limit(1))
    with db.engine.connect() as connection:
        connection.execute(update(Organisation).where(Organisation.id == organisation.id).values(name="Renamed"))
        assert connection.scalar(select(Organisation.name).where(Organisation.id == organisation.id)) == "Renamed"
        connection.rollback()
        assert connection.scalar(select(Organisation.name).where(Organisation.id == organisation.id)) == \
            organisation.name
        connection.rollback()


def test_a_failed_transaction_is_rolled_back_and_the_connection_works_on():
    with db.engine.connect() as connection:
        read_in_transactions(connection)
        with pytest.raises(DBAPIError):
            connection.exec_driver_sql("SELECT 1 / 0")
        connection.rollback()
        read_in_transactions(connection, times=1)


def test_pages_read_again_and_again_still_answer(client):
    for _ in range(7):
        assert client.get("/healthz").status_code == 200
        assert client.get("/sign-in").status_code == 200
