"""Readiness names what is down; the USSD webhook keeps serving or ends cleanly."""

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from hotline import deadline
from hotline.config import load_settings
from hotline.extensions import db
from hotline.models import utcnow
from hotline.services import contacts
from tests.conftest import TOKEN

DOWN_DB = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
DOWN_REDIS = "redis://127.0.0.1:1/0"
HOP = {"sessionId": "ATUid_x", "serviceCode": "*384*1234#", "phoneNumber": "+249912345678",
       "networkCode": "63401", "text": ""}


def test_healthz_and_readyz_when_all_is_up(client):
    assert client.get("/healthz").json == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["status"] == "ok"


def test_readyz_names_the_database_when_it_is_down(make_app):
    app = make_app(DATABASE_URL=DOWN_DB)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["down"] == ["database"]


def test_readyz_names_redis_when_it_is_down(make_app):
    app = make_app(REDIS_URL=DOWN_REDIS)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["down"] == ["redis"]


def test_ussd_keeps_serving_from_the_database_when_redis_is_down(make_app):
    app = make_app(REDIS_URL=DOWN_REDIS)
    client = app.test_client()
    first = client.post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP).get_data(as_text=True)
    second = client.post(f"/webhooks/at/ussd?token={TOKEN}",
                         data={**HOP, "text": "2"}).get_data(as_text=True)
    assert first.startswith("CON ") and "English" in first
    assert second.startswith("CON ") and "Sorry" not in second and second != first


def test_ussd_answers_a_clean_end_when_the_database_is_down(make_app):
    app = make_app(DATABASE_URL=DOWN_DB)
    response = app.test_client().post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP)
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END ")


def test_healthz_touches_no_dependency(make_app):
    app = make_app(DATABASE_URL=DOWN_DB, REDIS_URL=DOWN_REDIS)
    started = time.monotonic()
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and time.monotonic() - started < 0.5


def test_every_database_connection_and_redis_call_has_time_limits(app):
    settings = {name: db.session.execute(text(f"SHOW {name}")).scalar()
                for name in ("statement_timeout", "lock_timeout",
                             "idle_in_transaction_session_timeout")}
    # Production idles out a transaction after 10 s; the tests' app allows 2 minutes
    # (tests/conftest.py), so this also proves the setting reaches the connection.
    assert settings == {"statement_timeout": "3s", "lock_timeout": "2s",
                        "idle_in_transaction_session_timeout": "2min"}
    assert load_settings()["LIMITS"]["db_idle_in_transaction_ms"] == 10_000
    db.session.rollback()
    kwargs = app.extensions["hotline.redis"].connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)
    assert db.engine.pool.timeout() == 2.0
    assert db.engine.hide_parameters  # bound values (phone numbers) never in errors or logs


def test_a_deadline_cuts_a_statement_the_server_would_let_run(app):
    started = time.monotonic()
    with pytest.raises(OperationalError), deadline.limit(0.5):
        db.session.execute(text("SELECT pg_sleep(2.5)"))  # under statement_timeout (3 s)
    db.session.rollback()
    assert time.monotonic() - started < 1.5
    assert db.session.execute(text("SELECT 1")).scalar() == 1  # the pool replaced it


def test_the_ussd_statements_engine_has_the_same_limits_and_commits_each_statement(app):
    """A dial's and a language choice's statements run on an autocommit engine of their
    own (``hotline.app.register_database``): every limit of the main engine holds there,
    and a statement is committed when it returns, with no COMMIT sent."""
    engine = app.extensions["hotline.autocommit"]
    assert engine.pool.timeout() == 2.0 and engine.hide_parameters
    with contacts.autocommit() as conn:
        settings = {name: conn.execute(text(f"SHOW {name}")).scalar()
                    for name in ("statement_timeout", "lock_timeout",
                                 "idle_in_transaction_session_timeout")}
        conn.execute(contacts.upsert("postgresql"), {"p_phone": "+249912000777",
                                                     "p_now": utcnow()})
        # seen by another connection while this one is still checked out: committed
        assert db.session.scalar(text("SELECT count(*) FROM contacts")) == 1
        db.session.rollback()
    assert settings == {"statement_timeout": "3s", "lock_timeout": "2s",
                        "idle_in_transaction_session_timeout": "2min"}


def test_a_deadline_cuts_a_ussd_statement_on_the_autocommit_engine(app):
    started = time.monotonic()
    with pytest.raises(OperationalError), deadline.limit(0.5), contacts.autocommit() as conn:
        conn.execute(text("SELECT pg_sleep(2.5)"))  # under statement_timeout (3 s)
    assert time.monotonic() - started < 1.5
    with contacts.autocommit() as conn:  # the pool replaced the connection it cut
        assert conn.execute(text("SELECT 1")).scalar() == 1
    with pytest.raises(deadline.DeadlineExceeded), deadline.limit(0.05):
        time.sleep(0.1)
        with contacts.autocommit() as conn:
            conn.execute(text("SELECT 1"))


def test_a_deadline_passed_before_any_statement_stops_the_first_one(app):
    """A request's deadline joins the watchdog only with its first database socket, so
    one that ran out in pure Python must still stop the statement that would follow."""
    db.session.execute(text("SELECT 1"))
    db.session.rollback()  # a connection back in the pool, not pinged on its next checkout
    with pytest.raises(deadline.DeadlineExceeded), deadline.limit(0.05):
        time.sleep(0.1)
        db.session.execute(text("SELECT 1"))
    db.session.rollback()
    assert db.session.execute(text("SELECT 1")).scalar() == 1
