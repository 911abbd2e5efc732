"""Missed calls while PostgreSQL is down are spooled (Redis, else a local file) and stored by
the sweeper when it is back: never dropped, and logged with a masked number and the key."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from hotline import sweeper
from hotline.extensions import db
from hotline.models import CallbackRequest, VoiceCall
from hotline.services import callback_policy
from tests.conftest import DATABASE_URL, TOKEN
from tests.faultproxy import FaultProxy

REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>'
CALLER = "+249912345678"
RANG_AT = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def ring(session_id: str) -> dict[str, str]:
    return {"isActive": "1", "sessionId": session_id, "direction": "Inbound",
            "callerNumber": CALLER, "destinationNumber": "+249900000000"}


@pytest.fixture()
def down_database(make_app):
    """An app whose PostgreSQL refuses every connection."""
    url = sa.engine.make_url(DATABASE_URL)
    proxy = FaultProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    proxy.set("refuse")
    host, port = proxy.address()

    def make(**extra):
        return make_app(DATABASE_URL=url.set(host=host, port=port)
                        .render_as_string(hide_password=False), **extra)

    yield make
    proxy.stop()


def stored_calls() -> list[tuple[str, str, datetime]]:
    db.session.expire_all()
    return [(call.session_id, req.channel, req.created_at) for call, req in db.session.execute(
        sa.select(VoiceCall, CallbackRequest).join(CallbackRequest,
                                                   VoiceCall.request_id == CallbackRequest.id))]


@pytest.mark.parametrize("redis_up", [True, False], ids=["to-redis", "to-file"])
def test_a_ring_while_the_database_is_down_is_rejected_spooled_then_stored(
        app, down_database, caplog, monkeypatch, redis_up):
    monkeypatch.setattr(callback_policy, "clock", lambda: RANG_AT)
    extra = {} if redis_up else {"REDIS_URL": "redis://127.0.0.1:1/0"}
    broken = down_database(**extra)
    with caplog.at_level(logging.WARNING):
        response = broken.test_client().post(f"/webhooks/at/voice?token={TOKEN}",
                                             data=ring("ATVId_spooled"))
    assert response.status_code == 200 and response.get_data(as_text=True) == REJECT
    [line] = [r.getMessage() for r in caplog.records if "spooled as" in r.getMessage()]
    where = "redis:hotline:spool:voice:" if redis_up else "file:"
    assert "+249 91* *** *78" in line and f"spooled as {where}" in line
    assert line.endswith("ATVId_spooled") and "912345678" not in line
    assert stored_calls() == []
    # the database is back: the sweeper (of an app with the same Redis and spool folder)
    lines = sweeper.sweep()
    assert "missed calls: 1 spooled call(s) stored, 0 still waiting" in lines
    assert stored_calls() == [("ATVId_spooled", "missed_call", RANG_AT)]
    assert "missed calls: 0 spooled call(s) stored" in " ".join(sweeper.sweep())


def test_spooled_calls_wait_while_the_database_is_still_down(app, down_database, monkeypatch):
    monkeypatch.setattr(callback_policy, "clock", lambda: RANG_AT)
    broken = down_database()
    client = broken.test_client()
    for n in range(3):
        client.post(f"/webhooks/at/voice?token={TOKEN}", data=ring(f"ATVId_{n}"))
    with broken.app_context():
        assert any(line.startswith("missed calls: 0 spooled call(s) stored, 3 still waiting")
                   for line in sweeper.sweep())
    assert len(sweeper.sweep()) and len(stored_calls()) == 3  # the healthy app stores all


def test_a_repeated_spooled_ring_is_stored_once(app, down_database):
    client = down_database().test_client()
    for _ in range(2):
        client.post(f"/webhooks/at/voice?token={TOKEN}", data=ring("ATVId_twice"))
    sweeper.sweep()
    assert [c[0] for c in stored_calls()] == ["ATVId_twice"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CallbackRequest)) == 1
