"""Faults mid-load: PostgreSQL refusing, hanging and dropping connections (through a TCP
proxy the test controls), Redis stopped mid-session (a redis-server of the test's own).

For each: every hop answers within the gateway's 10 s (here: within the short test
limits, far less), ``/readyz`` answers within 2 s naming what is wrong, and every
callback reference a caller was shown is stored, and every stored one was shown.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from hotline.models import CallbackRequest
from tests import faultkit
from tests.conftest import DATABASE_URL, TOKEN
from tests.faultproxy import FaultProxy

# Short limits so the suite stays quick; production's are in config/defaults.toml.
LIMITS = {"ussd_hop_seconds": 2.0, "request_seconds": 3.0, "ready_seconds": 1.0,
          "db_connect_timeout": 2, "db_statement_timeout_ms": 1500, "db_lock_timeout_ms": 1000,
          "db_pool_timeout": 1.0, "redis_socket_timeout": 0.3, "redis_connect_timeout": 0.3,
          "redis_retry_seconds": 1.0}
# A hop's deadline, plus one connect that began just before it, plus a Redis write.
WORST_HOP = LIMITS["ussd_hop_seconds"] + LIMITS["db_connect_timeout"] + 1.0


class ClientTransport:
    """The app in this process, one test client per caller thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.local = threading.local()

    def _client(self):
        if not hasattr(self.local, "client"):
            self.local.client = self.app.test_client()
        return self.local.client

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        response = self._client().post(path, data=form)
        return response.status_code, response.get_data(as_text=True)

    def get(self, path: str) -> tuple[int, str]:
        response = self._client().get(path)
        return response.status_code, response.get_data(as_text=True)


def stored_refs() -> set[str]:
    """Read straight from PostgreSQL, not through the proxy."""
    engine = sa.create_engine(DATABASE_URL)
    with engine.connect() as conn:
        refs = set(conn.scalars(sa.text("SELECT ref FROM callback_requests")))
    engine.dispose()
    return refs


@pytest.fixture()
def proxy():
    url = sa.engine.make_url(DATABASE_URL)
    running = FaultProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    yield running
    running.stop()


def through(proxy: FaultProxy) -> str:
    host, port = proxy.address()
    return sa.engine.make_url(DATABASE_URL).set(host=host, port=port) \
        .render_as_string(hide_password=False)


def check(outcome: faultkit.Outcome, component: str) -> None:
    print(outcome.line())
    assert not outcome.bad_answers, outcome.bad_answers[:5]
    assert outcome.within == outcome.hops and outcome.worst < WORST_HOP, outcome.line()
    assert outcome.readyz and outcome.worst_ready < faultkit.READY_LIMIT, outcome.readyz
    assert any(code == 503 and component in body for code, _, body in outcome.readyz), \
        outcome.readyz
    assert outcome.confirmed == outcome.stored, (outcome.confirmed ^ outcome.stored)


@pytest.mark.parametrize("mode", ["refuse", "hang", "drop"])
def test_database_fault_mid_load(app, make_app, proxy, mode):
    faulty = make_app(DATABASE_URL=through(proxy), LIMITS=LIMITS)
    transport = ClientTransport(faulty)
    outcome = faultkit.run(transport, TOKEN, f"database {mode}", lambda: proxy.set(mode),
                           lambda: proxy.set("pass"), stored_refs, callers=3, fault_after=0.5,
                           fault_for=2.5, recover_for=1.5)
    check(outcome, "database")
    assert outcome.ready_after == 200
    # and the service is whole again: a new caller gets through and is stored
    after = faultkit.Outcome("after")
    faultkit.session(transport, TOKEN, after, "+249912999001")
    assert len(after.confirmed) == 1 and after.confirmed <= stored_refs()
    assert transport.get("/readyz")[0] == 200


def test_redis_stopped_mid_session_every_caller_still_gets_through(app, make_app, caplog):
    own = faultkit.OwnRedis().start()
    try:
        faulty = make_app(REDIS_URL=own.url, LIMITS=LIMITS)
        with caplog.at_level("WARNING"):
            outcome = faultkit.run(ClientTransport(faulty), TOKEN, "redis stopped", own.stop,
                                   lambda: None, stored_refs, callers=3, fault_after=0.5,
                                   fault_for=2.0, recover_for=1.0, recovers=False)
    finally:
        own.stop()
    check(outcome, "redis")
    # the database was there all along: every session ended with a stored request
    assert len(outcome.stored) == outcome.sessions
    said = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]  # once a minute, not once a hop


def test_a_database_lost_just_after_the_request_is_stored_still_confirms_it(
        app, make_app, proxy, monkeypatch):
    faulty = make_app(DATABASE_URL=through(proxy), LIMITS=LIMITS)
    armed = threading.Event()
    commit = Session.commit

    def note_request(session, flush_context, instances) -> None:
        if armed.is_set() and any(isinstance(o, CallbackRequest) for o in session.new):
            session.info["request_flushed"] = True

    def commit_then_cut(session: Session) -> None:
        commit(session)
        if session.info.pop("request_flushed", False):
            armed.clear()
            proxy.set("refuse")  # every connection reset the moment the commit returned

    class ArmBeforeLastHop(ClientTransport):
        def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
            if form["text"] == "*".join(faultkit.CALLBACK_PATH):
                armed.set()
            return super().post(path, form)

    outcome = faultkit.Outcome("cut after commit")
    monkeypatch.setattr(Session, "commit", commit_then_cut)
    event.listen(Session, "before_flush", note_request)
    try:
        faultkit.session(ArmBeforeLastHop(faulty), TOKEN, outcome, "+249912999002")
    finally:
        event.remove(Session, "before_flush", note_request)
        monkeypatch.undo()
        proxy.set("pass")
    assert not armed.is_set()  # the cut did happen, after the request's commit
    assert len(outcome.confirmed) == 1 and outcome.confirmed == stored_refs()


def test_staff_pages_answer_a_clear_503_never_a_500_while_redis_is_down(app, make_app,
                                                                       monkeypatch):
    from tests.staffkit import TOKEN_FIELD, Staff, make_user, quick_hashing

    quick_hashing(monkeypatch)
    own = faultkit.OwnRedis().start()
    try:
        staffed = make_app(REDIS_URL=own.url, LIMITS=LIMITS)
        with staffed.app_context():
            make_user("amal@mrrc.example")
            agent = Staff(staffed, "amal@mrrc.example")
        own.stop()
        newcomer = staffed.test_client()
        browser = staffed.test_client()  # another browser, at the sign-in form
        csrf = TOKEN_FIELD.search(browser.get("/staff/login").get_data(as_text=True)).group(1)
        answers = [agent.get("/staff/"), agent.get("/staff/stats"),
                   agent.client.post("/staff/requests/1/claim"),
                   newcomer.get("/staff/"),
                   browser.post("/staff/login", data={"email": "amal@mrrc.example",
                                                    "password": "x" * 12, "csrf_token": csrf})]
        for response in answers:
            body = response.get_data(as_text=True)
            assert response.status_code < 500 or response.status_code == 503, body[:300]
            assert "Traceback" not in body
        assert [r.status_code for r in answers[:2]] == [503, 503]
        assert "Temporarily unavailable" in answers[0].get_data(as_text=True)
    finally:
        own.stop()


def test_a_hop_the_database_keeps_waiting_ends_in_the_callers_language_in_time(app, make_app,
                                                                               proxy):
    faulty = make_app(DATABASE_URL=through(proxy), LIMITS=LIMITS)
    transport = ClientTransport(faulty)
    form = {"sessionId": "ATUid_lang", "serviceCode": faultkit.SERVICE_CODE,
            "phoneNumber": "+249912999003", "networkCode": "63401", "text": ""}
    path = faultkit.CALLBACK_PATH
    for step in range(len(path)):  # English chosen, up to the confirmation screen
        status, body = transport.post(f"/webhooks/at/ussd?token={TOKEN}",
                                      {**form, "text": "*".join(path[:step])})
        assert status == 200 and body.startswith("CON "), body
    proxy.set("hang")
    started = time.monotonic()
    status, body = transport.post(f"/webhooks/at/ussd?token={TOKEN}",
                                  {**form, "text": "*".join(path)})
    took = time.monotonic() - started
    proxy.set("pass")
    english = faulty.extensions["hotline.catalog"].render("en", "error.unavailable")
    assert (status, body) == (200, "END " + english)  # English only: the caller chose it
    assert LIMITS["ussd_hop_seconds"] <= took < WORST_HOP
    assert stored_refs() == set()


@pytest.mark.parametrize("committed", [True, False], ids=["reply-lost", "not-committed"])
def test_a_commit_whose_reply_is_lost_is_confirmed_only_if_stored(app, monkeypatch, committed):
    """A connection lost during COMMIT: the server may or may not have stored the request.
    (The lost reply is simulated around the real commit: its timing cannot be produced
    reliably with the proxy.)"""
    commit = Session.commit
    armed = threading.Event()

    def commit_losing_the_reply(session: Session) -> None:
        flushed = armed.is_set() and any(isinstance(o, CallbackRequest)
                                         for o in [*session.new, *session.dirty])
        if flushed:
            armed.clear()
            if committed:
                commit(session)
            else:
                session.rollback()
            raise sa.exc.OperationalError("COMMIT", {}, Exception("server closed the "
                                                                  "connection unexpectedly"))
        commit(session)

    monkeypatch.setattr(Session, "commit", commit_losing_the_reply)
    outcome = faultkit.Outcome("lost commit reply")

    class ArmBeforeLastHop(ClientTransport):
        def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
            if form["text"] == "*".join(faultkit.CALLBACK_PATH):
                armed.set()
            return super().post(path, form)

    faultkit.session(ArmBeforeLastHop(app), TOKEN, outcome, "+249912999004")
    assert not armed.is_set()
    assert len(outcome.confirmed) == (1 if committed else 0)
    assert outcome.confirmed == stored_refs()
