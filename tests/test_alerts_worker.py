"""Alerts through real rq workers to the fake Africa's Talking server: every subscriber
gets the alert exactly once, even when the worker is SIGKILLed mid-fan-out; pause and
cancel during a fan-out stop it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from hotline.extensions import db
from hotline.models import Broadcast, OutboxMessage
from hotline.services import broadcasts
from tests.alertkit import leader, quick_pins
from tests.conftest import overrides
from tests.fakeat import FakeAT
from tests.outboxkit import at_settings

ROOT = Path(__file__).resolve().parents[1]
LEADER = "+249955555555"
CHUNK = 10


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_pins(monkeypatch)


@pytest.fixture()
def settings(fake) -> dict:
    return {**overrides(), **at_settings(fake), "ALERTS": {"fanout_chunk": CHUNK}}


@pytest.fixture()
def sender(make_app, settings, app) -> Iterator[Flask]:
    made = make_app(**settings)
    with made.app_context():
        yield made
        db.session.remove()


def numbers(n: int) -> list[str]:
    return [f"+2499170{i:05d}" for i in range(n)]


def many_subscribers(n: int, area: str = "KH-OMD") -> list[str]:
    """``n`` subscribers in one statement each for contacts and subscriptions."""
    phones = numbers(n)
    db.session.execute(text(
        "INSERT INTO contacts (phone, language, created_at, last_seen_at, hard_failures) "
        "SELECT p, CASE WHEN i % 2 = 0 THEN 'ar' ELSE 'en' END, now(), now(), 0 "
        "FROM unnest(CAST(:phones AS text[])) WITH ORDINALITY AS t(p, i)"), {"phones": phones})
    db.session.execute(text(
        "INSERT INTO subscriptions (contact_id, area_code, topic, channel, created_at) "
        "SELECT id, :area, 'safety', 'ussd', now() FROM contacts WHERE phone = ANY(:phones)"),
        {"area": area, "phones": phones})
    db.session.commit()
    return phones


def confirmed(sender: Flask) -> int:
    """A leader's urgent road-closure alert (urgent: the quiet hours do not hold it)."""
    leader(LEADER, ["KH-OMD"], pin="4826")
    made = broadcasts.create_from_leader(LEADER, "closure", {"place": "Souq", "day": "today"},
                                         "KH-OMD", key="test:confirm")
    assert made.outcome == "ok", made
    db.session.commit()
    return made.broadcast.id


def worker(settings: dict, delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.alertworker", json.dumps(settings),
                             str(delay)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]


def once_each(fake: FakeAT, phones: list[str]) -> None:
    """Every subscriber exactly once at the gateway; the leader's summary at most once."""
    assert sorted(set(fake.accepted) - {LEADER}) == phones
    assert set(fake.accepted.values()) == {1}


def state(bid: int) -> Broadcast:
    db.session.expire_all()
    return db.session.get(Broadcast, bid)


def wait_for_cursor(bid: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if state(bid).fanout_cursor > 0:
            return
        assert process.poll() is None, "the worker ended before the fan-out began"
        time.sleep(0.02)
    raise AssertionError("the fan-out never began")


def test_every_subscriber_gets_it_once_and_the_leader_a_summary(sender, settings, fake):
    phones = many_subscribers(60)
    bid = confirmed(sender)
    finish(worker(settings))  # fan-out, batches, the top-up that finishes, the summary
    assert sorted(fake.accepted) == sorted([*phones, LEADER])
    assert set(fake.accepted.values()) == {1}
    assert state(bid).status == "done"
    assert broadcasts.finish_sweep() == "broadcasts: 0 finished of 0 sending"
    bodies = {r.message.split("\n")[0] for r in fake.requests if r.recipients != [LEADER]}
    assert bodies == {"URGENT: the road at Souq is closed today. Avoid it and do not try to "
                      "pass the checkpoint.", "عاجل: الطريق عند Souq مغلق اليوم. تجنبه ولا تحاول "
                      "عبور نقطة التفتيش."}


def test_sigkill_mid_fan_out_then_restart_delivers_exactly_once(sender, settings, fake):
    phones = many_subscribers(200)
    bid = confirmed(sender)
    process = worker(settings, delay=0.05)
    wait_for_cursor(bid, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    half = state(bid)
    written = db.session.query(OutboxMessage).filter_by(broadcast_id=bid).count()
    assert half.fanned_out_at is None and 0 < written < 200 and written == half.fanout_cursor \
        - db.session.scalar(select(db.func.min(OutboxMessage.contact_id))) + 1
    assert fake.total() == 0  # fan-out comes before sending: nothing left half-sent
    print(broadcasts.restart_sweep())  # what cron runs every minute
    finish(worker(settings))
    once_each(fake, phones)
    assert db.session.query(OutboxMessage).filter_by(broadcast_id=bid).count() == 200


@pytest.mark.parametrize("action", ["pause", "cancel"])
def test_pause_or_cancel_during_the_fan_out_stops_it(sender, settings, fake, action):
    phones = many_subscribers(200)
    bid = confirmed(sender)
    staff = state(bid).leader.created_by_id
    process = worker(settings, delay=0.05)
    wait_for_cursor(bid, process)
    getattr(broadcasts, action)(bid, staff)
    finish(process)
    written = db.session.query(OutboxMessage).filter_by(broadcast_id=bid).count()
    assert 0 < written < 200 and fake.total() == 0
    assert state(bid).status == ("paused" if action == "pause" else "cancelled")
    if action == "cancel":
        assert broadcasts.counts(bid) == {"cancelled": written}
        return
    broadcasts.resume(bid, staff)
    finish(worker(settings))
    once_each(fake, phones)
