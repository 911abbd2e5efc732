"""A database connection that died in the pool (a PostgreSQL restart, a cut network)
costs no caller a screen: the USSD statements run once more on a new connection.

The pool trusts a connection that answered less than a second ago without pinging it
(``hotline.deadline.PING_AFTER``), so here the statement itself meets the dead one.
"""

import sqlalchemy as sa
from sqlalchemy import select

from hotline.models import Contact, UssdSession
from tests.conftest import DATABASE_URL, PHONE, UssdCaller


def end_every_connection_of_the_app() -> int:
    """What a server restart does to the pool: every backend of the database but ours."""
    admin = sa.create_engine(DATABASE_URL)
    with admin.connect() as conn:
        ended = conn.scalar(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    admin.dispose()
    return int(ended or 0)


def scalar(statement: sa.Select) -> object:
    """Read on a connection of its own: the app's main pool lost its connections too
    (the USSD statements run on an engine of their own, whose retry renewed only that)."""
    reader = sa.create_engine(DATABASE_URL)
    with reader.connect() as conn:
        value = conn.scalar(statement)
    reader.dispose()
    return value


def test_a_dial_after_the_pools_connections_died_gets_its_screen(app, client):
    first = UssdCaller(client, phone="+249912000001")
    first.dial()  # the pool holds a connection that answered just now
    assert end_every_connection_of_the_app() >= 1
    caller = UssdCaller(client)
    screen = caller.dial()
    assert not caller.ended and "1. العربية" in screen and "2. English" in screen
    assert scalar(select(UssdSession.session_id)
                  .where(UssdSession.session_id == caller.session_id))


def test_a_language_chosen_after_the_pools_connections_died_is_remembered(app, ussd):
    ussd.dial()
    assert end_every_connection_of_the_app() >= 1
    menu = ussd.press("2")
    assert not ussd.ended and "1. " in menu
    assert scalar(select(Contact.language).where(Contact.phone == PHONE)) == "en"
