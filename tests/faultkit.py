"""Callers asking for a callback while a fault is injected: shared by the fault tests and
``tests/bench/faults.py``.

Each caller thread runs USSD sessions one after another through the whole callback
flow (a new caller in English: language, callback, medical, any time, no SMS,
confirm). Mid-load the fault is switched on, ``/readyz`` is asked while it lasts,
then the fault is lifted and the callers finish. What a caller was promised (the
reference on the END screen) is compared with what the database holds.
"""

from __future__ import annotations

import random
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import redis

# New caller, English: 2 English, 4 callback, 2 medical, 1 any time, 2 no SMS, 1 confirm.
CALLBACK_PATH = ("2", "4", "2", "1", "2", "1")
REF = re.compile(r"(?<![0-9])[2-9]{7}(?![0-9])")  # callback_policy.REF_ALPHABET, 7 long
SERVICE_CODE = "*384*1234#"
GATEWAY_LIMIT = 10.0  # Africa's Talking waits this long for a hop's answer
READY_LIMIT = 2.0


class Transport(Protocol):
    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]: ...
    def get(self, path: str) -> tuple[int, str]: ...


@dataclass
class Outcome:
    """What the callers saw and what was stored, for one fault."""

    fault: str
    latencies: list[float] = field(default_factory=list)
    bad_answers: list[str] = field(default_factory=list)  # not 200 or not CON/END
    confirmed: set[str] = field(default_factory=set)  # references shown on END screens
    stored: set[str] = field(default_factory=set)
    readyz: list[tuple[int, float, str]] = field(default_factory=list)
    sessions: int = 0
    ready_after: int = 0  # /readyz once the fault was lifted
    transcripts: dict[str, list[str]] = field(default_factory=dict)  # phone: what it saw
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hops(self) -> int:
        return len(self.latencies)

    @property
    def within(self) -> int:
        return sum(1 for s in self.latencies if s < GATEWAY_LIMIT)

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    @property
    def worst_ready(self) -> float:
        return max((s for _, s, _ in self.readyz), default=0.0)

    def line(self) -> str:
        return (f"{self.fault:<14} hops within {GATEWAY_LIMIT:.0f} s: {self.within}/{self.hops}"
                f"  confirmed/stored: {len(self.confirmed)}/{len(self.stored)}"
                f" (same refs: {'yes' if self.confirmed == self.stored else 'NO'})"
                f"  worst hop: {self.worst * 1000:.0f} ms"
                f"  /readyz: {self.worst_ready * 1000:.0f} ms "
                f"{sorted({code for code, _, _ in self.readyz})}  sessions: {self.sessions}")


def session(transport: Transport, token: str, outcome: Outcome, phone: str,
            pause: float = 0.0) -> None:
    """One caller's session through the callback flow; stops at the first END.

    ``pause``: seconds the caller reads each screen before pressing, so that
    sessions are under way when the fault strikes, as they would be.
    """
    session_id = "ATUid_" + secrets.token_hex(12)
    inputs: list[str] = []
    for step in range(len(CALLBACK_PATH) + 1):
        if step:
            inputs.append(CALLBACK_PATH[step - 1])
            time.sleep(pause)
        form = {"sessionId": session_id, "serviceCode": SERVICE_CODE, "phoneNumber": phone,
                "networkCode": "63401", "text": "*".join(inputs)}
        started = time.monotonic()
        try:
            status, body = transport.post(f"/webhooks/at/ussd?token={token}", form)
        except Exception as exc:  # the transport itself failed: the gateway saw nothing
            status, body = 0, f"{type(exc).__name__}: {exc}"
        took = time.monotonic() - started
        with outcome.lock:
            outcome.latencies.append(took)
            outcome.transcripts.setdefault(phone, []).append(
                f"{time.time():.3f} +{took * 1000:.0f}ms {form['text']!r} -> {status} "
                f"{body[:50]!r}")
            if status != 200 or not body.startswith(("CON ", "END ")):
                outcome.bad_answers.append(f"{status} {body[:120]!r}")
                return
            if body.startswith("END "):
                outcome.confirmed.update(REF.findall(body))
                return


MOBILE = ("91", "92", "90", "96", "99", "12", "11", "95", "93")  # valid Sudanese prefixes


def phones(prefix: int, count: int) -> list[str]:
    """Distinct valid Sudanese mobile numbers, one per caller; ``prefix`` picks the network."""
    return [f"+249{MOBILE[prefix % len(MOBILE)]}{i:07d}" for i in range(1, count + 1)]


def run(transport: Transport, token: str, fault: str, switch_on: Callable[[], None],
        switch_off: Callable[[], None], stored: Callable[[], set[str]], callers: int = 4,
        fault_after: float = 0.5, fault_for: float = 3.0, recover_for: float = 1.5,
        pause: float = 0.1, prefix: int = 1, recovers: bool = True) -> Outcome:
    """Callers in threads start sessions until the end; the fault lasts from ``fault_after``
    for ``fault_for`` seconds, then ``recover_for`` seconds of calls follow."""
    outcome = Outcome(fault)
    numbers = iter(phones(prefix, 100_000))
    ends = time.monotonic() + fault_after + fault_for + recover_for

    stagger = random.Random(prefix)

    def caller(offset: float) -> None:
        time.sleep(offset)  # callers do not all dial at the same instant
        while time.monotonic() < ends:
            with outcome.lock:
                phone = next(numbers)
            session(transport, token, outcome, phone, pause)
            with outcome.lock:
                outcome.sessions += 1
            time.sleep(pause * 3)  # the next caller dials a moment later

    cycle = pause * (len(CALLBACK_PATH) + 3)
    threads = [threading.Thread(target=caller, args=(stagger.uniform(0, cycle),), daemon=True)
               for _ in range(callers)]
    for thread in threads:
        thread.start()
    time.sleep(fault_after)
    switch_on()
    until = time.monotonic() + fault_for
    while time.monotonic() < until:
        started = time.monotonic()
        status, body = transport.get("/readyz")
        outcome.readyz.append((status, time.monotonic() - started, body))
        time.sleep(max(0.0, min(0.5, until - time.monotonic())))
    switch_off()
    for thread in threads:
        thread.join(timeout=120)
    # Ready again once the fault is lifted (``recovers``; not a Redis killed for good): a 200
    # also means no readiness check of the fault is still running on its thread.
    for _ in range(40 if recovers else 0):
        outcome.ready_after = transport.get("/readyz")[0]
        if outcome.ready_after == 200:
            break
        time.sleep(0.25)
    outcome.stored = stored()
    return outcome


# --- a Redis of the test's own -----------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server on its own loopback port, nothing saved to disk; ``stop`` kills it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # as a crash: no goodbye to the clients
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
