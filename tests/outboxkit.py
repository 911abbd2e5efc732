"""Helpers for outbox tests: an app sending through the real SDK to the fake server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from hotline.extensions import db
from hotline.models import OutboxMessage
from hotline.services.outbox import queue_sms
from tests.fakeat import FakeAT

ROOT = Path(__file__).resolve().parents[1]
HOTLINE = Path(sys.executable).parent / "hotline"  # the venv this test runs in

FAST = {"backoff_seconds": 0.2, "max_backoff_seconds": 1, "connect_timeout": 1,
        "read_timeout": 1.5, "rate_parts_per_second": 0}


def at_settings(fake: FakeAT, **outbox: Any) -> dict[str, Any]:
    """Settings that send to ``fake``: what HOTLINE_AT_* would say in production."""
    return {"AT_USERNAME": "hotline", "AT_API_KEY": fake.api_key, "AT_SENDER_ID": "MRRC",
            "AT_BASE_URL": fake.url, "OUTBOX": {**FAST, **outbox}}


def queue(n: int = 1, *, body: str = "Your request is received.", priority: str = "reply",
          first: int = 0, prefix: str = "t", **extra: Any) -> list[int]:
    """``n`` committed messages to ``n`` different numbers; their ids."""
    rows = [queue_sms(db.session, to=f"+2499{first + i:08d}", body=body, language="en",
                      priority=priority, kind="test", idempotency_key=f"{prefix}-{first + i}",
                      **extra) for i in range(n)]
    db.session.commit()
    return [row.id for row in rows]


def rows(app: Flask | None = None) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.query(OutboxMessage).order_by(OutboxMessage.id).all()


def statuses(app: Flask | None = None) -> list[str]:
    said = [row.status for row in rows(app)]
    # end the read: tests wait on workers next, and the server cuts a transaction left idle
    # longer than db_idle_in_transaction_ms
    db.session.commit()
    return said


# --- a real ``hotline worker`` process ----------------------------------------------------------

def worker_env(fake: FakeAT, **outbox: Any) -> dict[str, str]:
    """The environment of a worker process sending to ``fake`` (see README, Configuration)."""
    from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({"HOTLINE_DATABASE_URL": DATABASE_URL, "HOTLINE_REDIS_URL": REDIS_URL,
                "HOTLINE_SECRET_KEY": "test-secret-" + "x" * 32, "HOTLINE_WEBHOOK_TOKEN": TOKEN,
                "HOTLINE_AT_USERNAME": "hotline", "HOTLINE_AT_API_KEY": fake.api_key,
                "HOTLINE_AT_SENDER_ID": "MRRC", "HOTLINE_AT_BASE_URL": fake.url,
                "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
    for key, value in {**FAST, **outbox}.items():
        env[f"HOTLINE_OUTBOX__{key.upper()}"] = str(value)
    return env


class Worker:
    """``hotline worker`` in its own process group; ``kill()`` is a SIGKILL, no goodbye."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.runs = env, log_dir, 0
        self.process: subprocess.Popen | None = None
        self.out: Any = None

    def start(self) -> Worker:
        self.runs += 1
        self.out = (self.log_dir / f"worker-{self.runs}.log").open("w")
        self.process = subprocess.Popen([str(HOTLINE), "worker"], env=self.env, stdout=self.out,
                                        stderr=subprocess.STDOUT, cwd=ROOT,
                                        start_new_session=True)
        return self

    def kill(self) -> None:
        if self.process is not None:
            # The whole group, as systemd kills a unit: rq's scheduler is a child process.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(10)
        self._close()

    def _close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()  # whatever is left of the group

    def log(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.log_dir.glob("worker-*")))


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(HOTLINE), *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "",
               worker: Worker | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}; statuses "
                         f"{statuses()}\n{worker.log() if worker else ''}")


def settled(app: Flask | None = None) -> bool:
    """No row is waiting or in flight any more."""
    return not any(s in ("queued", "sending") for s in statuses(app))
