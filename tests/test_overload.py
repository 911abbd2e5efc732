"""Graceful overload, through a real gunicorn with production's config and one thread:
a burst far beyond what it serves in time gets every answer within the gateway's
patience, the surplus a short "busy, dial again" END in the caller's language, and
the next caller after the burst is served normally at once."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask

from tests.bench.common import Server, Workers, base_env
from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN, UssdCaller

TARGET = f"/webhooks/at/ussd?token={TOKEN}"
LIMIT = 5.0  # no hop may wait longer than this (the gateway gives up at about 10 s)
BURST = 120
HOP_BURST = 200


@pytest.fixture()
def server(app: Flask) -> Iterator[Server]:
    """One worker with one thread, turning away dials queued over 50 ms and hops of
    sessions under way queued over 100 ms.

    A hop costs about a millisecond now: a burst of 120 posted by client threads that
    connect one after another is served nearly as fast as it arrives. With a dial limit
    of 100 ms a quiet machine turned away 0 to 19 of them (0 fails the test); with 50 ms,
    81 to 95 (measured over a few runs), well inside "some, not all". For hops, 50 ms was
    too tight on a slower, shared machine: in half the runs the first hop of the burst
    had already waited that long behind the client threads, and all 120 were turned away
    (with the code of two stops before as with this one). So hops come in a burst of
    ``HOP_BURST`` against 100 ms: the first are served, the last turned away."""
    env = base_env(database_url=DATABASE_URL, redis_url=REDIS_URL, webhook_token=TOKEN,
                   secret_key="overload-secret-" + "x" * 32, ussd_service_code="*384*1234#",
                   limits__ussd_busy_dial_seconds="0.05", limits__ussd_busy_hop_seconds="0.1")
    with Server("hotline:create_app()", Workers(overrides=("--workers", "1", "--threads", "1")),
                env, ready_path="/readyz") as running:
        yield running


def form(session_id: str, text: str, phone: str) -> bytes:
    return urlencode({"sessionId": session_id, "serviceCode": "*384*1234#",
                      "phoneNumber": phone, "networkCode": "63401", "text": text}).encode()


def post(port: int, body: bytes) -> tuple[int, str, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", TARGET, body, {"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        return response.status, response.read().decode(), time.monotonic() - started
    finally:
        conn.close()


def burst(port: int, bodies: list[bytes]) -> list[tuple[int, str, float]]:
    """Every body posted at the same moment, each on its own connection."""
    results: list[tuple[int, str, float] | None] = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        start.wait()
        results[i] = post(port, bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None for r in results), "a request got no answer at all"
    return results  # type: ignore[return-value]


def render(app: Flask, lang: str, key: str) -> str:
    return app.extensions["hotline.catalog"].render(lang, key)


def test_a_burst_of_dials_beyond_capacity_is_answered_in_time_the_surplus_busy(app, server):
    busy = "END " + render(app, "ar", "error.busy") + "\n" + render(app, "en", "error.busy")
    results = burst(server.port, [form(f"ATUid_burst{i}", "", f"+2499120{i:05d}")
                                  for i in range(BURST)])
    assert all(status == 200 for status, _, _ in results)
    worst = max(elapsed for _, _, elapsed in results)
    assert worst < LIMIT, f"a dial waited {worst:.1f} s"
    bodies = [body for _, body, _ in results]
    served = [b for b in bodies if b.startswith("CON ")]
    assert bodies.count(busy) + len(served) == BURST  # busy in both languages: nobody known yet
    assert served and bodies.count(busy) > BURST // 2, (len(served), bodies.count(busy))
    status, body, elapsed = post(server.port, form("ATUid_after", "", "+249912999999"))
    assert (status, body) == (200, served[0]) and elapsed < 1  # served again at once


def test_hops_of_sessions_under_way_turned_away_hear_it_in_their_language(app, client,
                                                                          server):
    sessions = []
    for i in range(HOP_BURST):  # begun in this process (same database and Redis), no queue:
        phone, choice = f"+2499121{i:05d}", "1" if i % 2 else "2"
        caller = UssdCaller(client, phone=phone)  # half chose Arabic (1), half English (2)
        caller.dial()
        caller.press(choice)
        assert caller.body.startswith("CON ")
        sessions.append((caller.session_id, phone, choice, "ar" if choice == "1" else "en"))
    results = burst(server.port, [form(sid, f"{choice}*1", phone)
                                  for sid, phone, choice, _ in sessions])
    assert max(elapsed for _, _, elapsed in results) < LIMIT
    turned_away = 0
    for (_, body, _), (_, _, _, lang) in zip(results, sessions, strict=True):
        if body.startswith("END "):
            assert body == "END " + render(app, lang, "error.busy")
            turned_away += 1
        else:
            assert body.startswith("CON ")
    assert 0 < turned_away < len(sessions), turned_away
    sid, phone, choice, _ = sessions[0]  # the load gone, the same session goes on at once
    status, body, elapsed = post(server.port, form(sid, f"{choice}*1*0", phone))
    assert status == 200 and body.startswith("CON ") and elapsed < 1
