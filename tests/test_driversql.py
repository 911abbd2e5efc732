"""The USSD statements run on psycopg directly (``hotline.driversql``) and still behave
as SQLAlchemy's execute did: pooled, watched by the deadline, seen by the engine's
statement hooks, failing as SQLAlchemy's errors with the parameters hidden."""

import time

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DataError, OperationalError

from hotline import deadline, driversql
from hotline.models import Contact
from hotline.services import contacts
from tests.conftest import PHONE, sql_during
from tests.test_ussd_connections import end_every_connection_of_the_app


@pytest.fixture()
def engine(app):
    return contacts.autocommit_engine()


def test_a_row_and_a_count_come_back_committed(app, engine):
    row = driversql.fetch_one(engine, "INSERT INTO contacts (phone, created_at, last_seen_at) "
                              "VALUES (%(p)s, now(), now()) RETURNING phone", {"p": PHONE})
    assert row == (PHONE,)
    assert driversql.row_count(engine, "UPDATE contacts SET language = 'en' "
                               "WHERE phone = %(p)s", {"p": PHONE}) == 1
    assert driversql.row_count(engine, "UPDATE contacts SET language = 'en' "
                               "WHERE phone = %(p)s", {"p": "+249912000999"}) == 0
    # committed: another connection sees it
    with app.extensions["hotline.autocommit"].connect() as conn:
        assert conn.scalar(select(Contact.language).where(Contact.phone == PHONE)) == "en"


def test_the_engines_statement_hooks_see_a_statement_on_the_driver(app, engine):
    seen = sql_during(app, lambda: driversql.fetch_one(engine, "SELECT 41 + 1", {}))
    assert seen == ["SELECT 41 + 1"]


def test_a_failure_is_sqlalchemys_error_and_never_shows_the_parameters(app, engine):
    with pytest.raises(DataError) as raised:
        driversql.fetch_one(engine, "SELECT 1 / 0 WHERE CAST(%(p_phone)s AS text) <> ''",
                            {"p_phone": PHONE})
    assert "division by zero" in str(raised.value) and PHONE not in str(raised.value)
    assert not raised.value.connection_invalidated
    assert driversql.fetch_one(engine, "SELECT 1", {}) == (1,)  # the connection is fine


def test_a_deadline_cuts_a_statement_on_the_driver_and_the_pool_replaces_it(app, engine):
    started = time.monotonic()
    with pytest.raises(OperationalError) as raised, deadline.limit(0.5):
        driversql.fetch_one(engine, "SELECT pg_sleep(2.5)", {})  # under statement_timeout
    assert time.monotonic() - started < 1.5
    assert raised.value.connection_invalidated  # so contacts.once_more tries once more
    assert driversql.fetch_one(engine, "SELECT 1", {}) == (1,)


def test_a_deadline_passed_before_the_statement_stops_it(app, engine):
    with pytest.raises(deadline.DeadlineExceeded), deadline.limit(0.05):
        time.sleep(0.1)
        driversql.fetch_one(engine, "SELECT 1", {})


def test_a_connection_found_dead_drops_the_pools_other_idle_ones(app, engine):
    """A server restart kills every pooled connection at once: the second try of
    ``contacts.once_more`` must get a new one, not the next dead one."""
    first, second = engine.raw_connection(), engine.raw_connection()
    first.close()
    second.close()  # both idle, and rested too briefly to be pinged (PING_AFTER)
    assert end_every_connection_of_the_app() >= 2
    assert contacts.once_more(lambda: driversql.fetch_one(engine, "SELECT 1", {})) == (1,)
