"""End to end: a real ``hotline worker`` process, real Redis, the real SDK, the fake gateway.

The fault tests kill the worker, flush Redis and make the gateway fail, and then
count what the fake server accepted per recipient: exactly once, or, where a
send was in flight when the worker died, as README "Outbox" documents (replies at
least once, bulk at most once).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from hotline.extensions import db
from tests.conftest import REDIS_URL
from tests.outboxkit import (
    Worker,
    queue,
    rows,
    run_cli,
    settled,
    statuses,
    wait_until,
    worker_env,
)


@pytest.fixture()
def workers(tmp_path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def _worker(workers: list[Worker], env: dict, tmp_path) -> Worker:
    workers.append(Worker(env, tmp_path).start())
    return workers[-1]


def _recipients(priority: str | None = None) -> list[str]:
    return [r.recipient for r in rows(None) if priority in (None, r.priority)]


def test_replies_go_first_in_batches_and_every_recipient_gets_one(app, fake, workers,
                                                                   tmp_path):
    queue(12, body="Bulk alert", priority="bulk", prefix="bulk", first=100)
    queue(15, body="Your request is received.")
    queue(3, body="Another reply", first=50)
    worker = _worker(workers, worker_env(fake, batch_size=10), tmp_path)
    wait_until(settled, 60, "all sent")
    assert set(statuses(app)) == {"sent"}, worker.log()
    assert fake.accepted == {number: 1 for number in _recipients()}
    bodies = [r.message for r in fake.requests]
    assert bodies.index("Bulk alert") > max(i for i, b in enumerate(bodies) if b != "Bulk alert")
    assert sorted(len(r.recipients) for r in fake.requests) == [2, 3, 5, 10, 10]


def test_sigkill_mid_batch_then_restart_and_sweep(app, fake, workers, tmp_path):
    """The batch in flight when the worker dies: replies sent again, bulk never twice."""
    env = worker_env(fake, batch_size=4, read_timeout=20, stuck_minutes=0.01)
    queue(4, body="reply")
    queue(8, body="bulk", priority="bulk", prefix="b", first=100)
    fake.mode, fake.slow_seconds = "slow", 3  # every request accepted, answered late
    worker = _worker(workers, env, tmp_path)
    wait_until(lambda: len(fake.requests) == 1, 60, "the reply batch", worker)
    worker.kill()  # mid-batch: the gateway has it, the rows say "sending"
    replies_in_flight = set(fake.requests[0].recipients)
    assert statuses(app).count("sending") == 4
    time.sleep(1)  # past stuck_minutes (0.6 s): the sweeper may now call them lost
    assert "(4 after a lost worker)" in run_cli(env, "sweep")
    worker = _worker(workers, env, tmp_path)  # resends the replies, then starts on bulk
    wait_until(lambda: any(r.message == "bulk" for r in fake.requests), 60, "a bulk batch",
               worker)
    worker.kill()
    fake.mode = "ok"
    assert statuses(app).count("sent") == 4
    bulk_in_flight = set(next(r for r in fake.requests if r.message == "bulk").recipients)
    time.sleep(1)
    assert "4 bulk marked failed after a lost worker" in run_cli(env, "sweep")
    worker = _worker(workers, env, tmp_path)
    wait_until(settled, 60, "everything settled", worker)
    by = {r.recipient: r for r in rows(None)}
    for number in _recipients("reply"):  # at least once; twice only if it was in flight
        assert fake.accepted[number] == (2 if number in replies_in_flight else 1)
        assert by[number].status == "sent"
    for number in _recipients("bulk"):  # at most once; the in-flight ones marked failed
        assert fake.accepted[number] == 1
        assert by[number].status == ("failed" if number in bulk_in_flight else "sent")
    assert all("worker lost" in by[n].error for n in bulk_in_flight)


def test_redis_flushed_mid_send_then_sweep_loses_nothing(app, fake, workers, tmp_path):
    env = worker_env(fake, stuck_minutes=0.01)
    for i in range(20):  # different bodies: twenty requests, one at a time
        queue(1, body=f"reply number {i}", first=i)
    fake.mode, fake.slow_seconds = "slow", 0.2
    worker = _worker(workers, env, tmp_path)
    wait_until(lambda: len(fake.requests) >= 5, 30, "some sends")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()  # our own test database only
    client.close()
    wait_until(lambda: "sending" not in statuses(app), 10, "the send in flight to finish")
    left = statuses(app).count("queued")
    assert left > 0, "the flush came too late to test anything"
    db.session.remove()
    time.sleep(1)  # past stuck_minutes
    assert f"{left} of {left} re-enqueued" in run_cli(env, "sweep")
    wait_until(settled, 60, "everything sent")
    assert set(statuses(app)) == {"sent"}, worker.log()
    assert fake.accepted == {number: 1 for number in _recipients()}


def test_a_gateway_failing_thirty_percent_of_requests(app, fake, workers, tmp_path):
    env = worker_env(fake, batch_size=5, max_attempts=20, backoff_seconds=0.1,
                     max_backoff_seconds=0.5)
    fake.mode, fake.flaky_rate = "flaky", 0.3
    for i in range(8):
        queue(5, body=f"message {i}", first=i * 10)
    worker = _worker(workers, env, tmp_path)
    wait_until(settled, 90, "everything sent despite failures")
    assert set(statuses(app)) == {"sent"}, worker.log()
    assert fake.refused > 0
    assert fake.accepted == {number: 1 for number in _recipients()}


def test_two_workers_share_one_rate_limit(app, fake, workers, tmp_path):
    """4 parts per second for everyone: 12 one-part messages take at least 2.75 s."""
    env = worker_env(fake, rate_parts_per_second=4)
    for i in range(12):  # different texts: twelve requests of one part
        queue(1, body=f"message {i}", first=i)
    _worker(workers, env, tmp_path)
    last = _worker(workers, env, tmp_path)
    wait_until(settled, 60, "all sent", last)
    times = sorted(r.at for r in fake.requests)
    assert len(times) == 12 and times[-1] - times[0] >= 2.5
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert sum(g < 0.1 for g in gaps) <= 2  # no burst beyond the few in flight at once
