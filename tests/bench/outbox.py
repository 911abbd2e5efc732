"""Outbox throughput and latency: queued replies through ``hotline worker`` processes to the
fake Africa's Talking server, against a bare ``requests`` loop posting the same batches.

Run from the repository root (PostgreSQL and Redis on localhost)::

    .venv/bin/python -m tests.bench.outbox                  # about a minute
    .venv/bin/python -m tests.bench.outbox --messages 20000 # the issue's figure, ~5 minutes

Two phases, on a fresh schema, with the rate limit off:

1. **Backlog**: ``--messages`` replies are queued with ``queue_sms`` (commits of
   ``--per-commit``, as web requests do) while no worker runs; their rq jobs are held
   back (the queue's Redis list renamed aside) until ``--workers`` real ``hotline
   worker`` processes are all listening, then released at once, so no worker's
   start-up falls inside the measured window. The workers drain them through the real
   SDK to the fake server (its own process). Then the baseline: one bare loop of
   ``requests.post`` (as the SDK posts: form fields, ``apiKey`` header, no pooling)
   sends the very batches the workers made, in the same order, to the same fake server.
   Both rates run from the fake server's first request to its last.
   Target of issue 10: at least 0.5 of the bare loop.
2. **Steady**: ``--steady`` messages queued at ``--steady-rate`` per second while the
   workers run: p50/p99 queue-to-gateway latency, from the row's ``created_at`` to the
   fake server receiving it.

3. **Where the time goes**: ``send()`` in this process on fresh messages of the same
   shape (as many per text as in the backlog), its SQL statements, the SDK call and the
   rest timed apart, with the CPU each process spent per batch (this one, the
   PostgreSQL backends, the fake server) against the bare loop's.

Exit status: 0 target met, 1 any message lost or doubled, 2 target missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import datetime
from typing import Any

import psutil
import redis
import requests
from rq import Worker
from sqlalchemy import event, func, select

from hotline.app import create_app
from hotline.extensions import db
from hotline.gateways import build_gateway
from hotline.models import OutboxMessage
from hotline.services.outbox import queue_sms, send
from tests.bench.common import (
    BIN,
    ROOT,
    base_env,
    ensure_database,
    flush_redis,
    migrate,
    ms,
    percentile,
    require_scratch,
    reset_schema,
    service_processes,
    shout,
    table,
    verdict,
)

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_outbox"
REDIS_URL = "redis://127.0.0.1:6379/10"
API_KEY = "fake-key"
TARGET = 0.5


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=3000, help="backlog size (issue: 20000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bodies", type=int, default=60,
                    help="distinct texts among the messages (0: every one different, so "
                         "nothing can be batched)")
    ap.add_argument("--per-commit", type=int, default=10)
    ap.add_argument("--steady", type=int, default=300, help="messages in the latency phase")
    ap.add_argument("--steady-rate", type=float, default=10.0, help="per second")
    ap.add_argument("--database-url", default=DATABASE_URL)
    ap.add_argument("--redis-url", default=REDIS_URL)
    return ap.parse_args()


class Fake:
    """``python -m tests.fakeat`` in its own process, so it never shares a GIL with us."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fakeat"], cwd=ROOT,
                                     env=base_env(), stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()  # type: ignore[union-attr]

    def log(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_fake/log", timeout=30) as answer:  # noqa: S310
            return json.load(answer)

    def forget(self) -> None:
        req = urllib.request.Request(f"{self.url}/_fake/log", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()  # noqa: S310

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def cpu_by_pid(procs: list[psutil.Process]) -> dict[int, float]:
    found = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
            found[proc.pid] = times.user + times.system + times.children_user + \
                times.children_system
        except psutil.Error:
            pass
    return found


class Spent:
    """CPU seconds of some processes between ``start()`` and ``stop()``; ``find`` lists them
    again at the end, so a process started in between (a new database backend) counts
    whole."""

    def __init__(self, find: Any) -> None:
        self.find, self.before, self.seconds = find, {}, 0.0

    def start(self) -> Spent:
        self.before = cpu_by_pid(self.find())
        return self

    def stop(self) -> float:
        after = cpu_by_pid(self.find())
        self.seconds = sum(v - self.before.get(pid, 0.0) for pid, v in after.items())
        return self.seconds


def postgres_of(database: str) -> Any:
    return lambda: [p for p in service_processes(database) if p.name() != "redis-server"]


HELD = "bench:held:"


def hold_jobs(client: redis.Redis) -> list[str]:
    """Set the queued jobs aside (rename each rq queue's list) until the workers listen."""
    held = []
    for key in client.keys("rq:queue:*"):
        name = key.decode()
        if client.type(key) == b"list":
            client.rename(name, HELD + name)
            held.append(name)
    return held


def release_jobs(client: redis.Redis, held: list[str]) -> None:
    """Give the jobs back: a rename wakes the workers blocked on the list at once."""
    for name in held:
        client.rename(HELD + name, name)


def wait_listening(client: redis.Redis, n: int, timeout: float = 120) -> None:
    """Until ``n`` rq workers are registered and idle, i.e. waiting for a job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = Worker.all(connection=client)
        if len(workers) >= n and all(w.get_state() == "idle" for w in workers):
            time.sleep(0.3)  # from "idle" to blocked on the queue: a few Redis calls
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {n} workers to listen")


def queue_messages(n: int, bodies: int, per_commit: int, start: int, pace: float = 0.0) -> None:
    """``n`` replies to ``n`` different numbers; ``pace`` > 0: that many per second."""
    began = time.monotonic()
    for i in range(n):
        number = start + i
        body = (f"Reply {number % bodies}: your request is received." if bodies
                else f"Reply {number}: your request is received.")
        queue_sms(db.session, to=f"+2499{number:08d}", body=body, language="en",
                  priority="reply", kind="bench", idempotency_key=f"bench-{number}")
        if (i + 1) % per_commit == 0 or i == n - 1:
            db.session.commit()
        if pace:
            ahead = began + (i + 1) / pace - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)


def wait_sent(total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = db.session.scalar(select(func.count()).select_from(OutboxMessage)
                                 .where(OutboxMessage.status.not_in(("queued", "sending"))))
        db.session.commit()
        if done >= total:
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out: {done} of {total} messages settled")


def bare_loop(url: str, batches: list[dict]) -> None:
    """The same batches, posted the way the SDK posts them, one after the other."""
    for batch in batches:
        answer = requests.post(
            f"{url}/version1/messaging", timeout=(3.05, 9.05),
            headers={"apiKey": API_KEY, "Accept": "application/json"},
            data={"username": "hotline", "to": ",".join(batch["recipients"]),
                  "message": batch["message"], "bulkSMSMode": 1, "from": "MRRC"})
        answer.raise_for_status()
        answer.json()


class TimedGateway:
    """The app's own gateway, timed: what the HTTP round trip through the SDK costs."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.seconds, self.calls = inner, inner.name, 0.0, 0

    def send(self, recipients: list[str], body: str) -> Any:
        began = time.perf_counter()
        try:
            return self.inner.send(recipients, body)
        finally:
            self.seconds += time.perf_counter() - began
            self.calls += 1


def breakdown(app: Any, n: int, bodies: int, fake: Fake) -> dict[str, float]:
    """Where a batch's time goes: ``send`` run in this process on ``n`` fresh messages of
    ``bodies`` texts, SQL statements and the gateway call timed separately, and the CPU
    this process, the PostgreSQL backends and the fake server spent, per batch."""
    sql = {"n": 0, "seconds": 0.0}
    started: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(*_: Any) -> None:
        sql["seconds"] += time.perf_counter() - started.pop()
        sql["n"] += 1

    queue_messages(n, bodies, n, 2_000_000)
    ids = list(db.session.scalars(select(OutboxMessage.id)
                                  .where(OutboxMessage.status == "queued")))
    db.session.commit()
    timed = TimedGateway(build_gateway(app.config))
    app.extensions["hotline.gateway"] = timed
    # This process holds what the earlier phases left (tens of thousands of objects): out
    # of the collector's way, so its passes over them are not charged to send().
    db.session.remove()
    gc.collect()
    gc.freeze()
    postgres = Spent(postgres_of(db.engine.url.database or "")).start()
    gateway = Spent(lambda: [psutil.Process(fake.proc.pid)]).start()
    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    began, cpu_began = time.perf_counter(), time.process_time()
    send(ids)
    total, own = time.perf_counter() - began, time.process_time() - cpu_began
    gc.unfreeze()
    event.remove(db.engine, "before_cursor_execute", before)
    event.remove(db.engine, "after_cursor_execute", after)
    batches = max(1, timed.calls)
    return {"batches": batches, "total": total / batches, "gateway": timed.seconds / batches,
            "sql": sql["seconds"] / batches, "statements": sql["n"] / batches,
            "cpu": own / batches, "postgres": postgres.stop() / batches,
            "fake": gateway.stop() / batches}


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()


def main() -> int:
    args = parse()
    require_scratch(args.database_url, args.redis_url)
    ensure_database(args.database_url)
    reset_schema(args.database_url)
    flush_redis(args.redis_url)
    fake = Fake()
    settings = {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
                "SECRET_KEY": "bench-" + "x" * 32, "WEBHOOK_TOKEN": "bench-token-0123456789",
                "AT_USERNAME": "hotline", "AT_API_KEY": API_KEY, "AT_SENDER_ID": "MRRC",
                "AT_BASE_URL": fake.url}
    env = base_env(**settings)
    env["HOTLINE_OUTBOX__RATE_PARTS_PER_SECOND"] = "0"
    migrate(env)
    app = create_app({**settings, "OUTBOX": {"rate_parts_per_second": 0}})
    workers: list[subprocess.Popen] = []
    problems: list[str] = []
    try:
        with app.app_context():
            # --- phase 1: a backlog -----------------------------------------------------
            t0 = time.perf_counter()
            queue_messages(args.messages, args.bodies, args.per_commit, 0)
            queued_in = time.perf_counter() - t0
            database = db.engine.url.database or ""
            client = app.extensions["hotline.redis"]
            held = hold_jobs(client)
            started = time.time()
            workers = [subprocess.Popen([str(BIN / "hotline"), "worker"], env=env, cwd=ROOT,
                                        stdout=open(f"/tmp/bench-worker-{i}.log", "w"),
                                        stderr=subprocess.STDOUT)
                       for i in range(args.workers)]
            wait_listening(client, args.workers)
            ready = time.time() - started
            worker_cpu = Spent(lambda: [psutil.Process(w.pid) for w in workers]).start()
            postgres_cpu = Spent(postgres_of(database)).start()
            fake_cpu = Spent(lambda: [psutil.Process(fake.proc.pid)]).start()
            released = time.time()
            release_jobs(client, held)
            wait_sent(args.messages, timeout=600)
            log = fake.log()
            worker_cpu.stop(), postgres_cpu.stop(), fake_cpu.stop()
            batches = sorted(log["requests"], key=lambda r: r["at"])
            drain = batches[-1]["at"] - batches[0]["at"]
            first_request = batches[0]["at"] - released
            counts = Counter(n for r in batches for n in r["recipients"])
            if len(counts) != args.messages or set(counts.values()) != {1}:
                problems.append(f"backlog: {len(counts)} recipients reached, "
                                f"{sum(v > 1 for v in counts.values())} more than once")
            fake.forget()
            bare_fake = Spent(lambda: [psutil.Process(fake.proc.pid)]).start()
            bare_began = time.process_time()
            bare_loop(fake.url, batches)
            bare_client = time.process_time() - bare_began
            bare_fake.stop()
            bare_log = sorted(fake.log()["requests"], key=lambda r: r["at"])
            bare = bare_log[-1]["at"] - bare_log[0]["at"]
            fake.forget()
            # --- phase 2: steady arrivals -------------------------------------------------
            t1 = time.time()
            queue_messages(args.steady, args.bodies, 1, 1_000_000, pace=args.steady_rate)
            wait_sent(args.messages + args.steady, timeout=300)
            steady_log = fake.log()
            created = {row.recipient: row.created_at for row in db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "bench",
                                            OutboxMessage.created_at >= datetime.fromtimestamp(
                                                t1).astimezone()))}
            latencies = [r["at"] - created[n].timestamp() for r in steady_log["requests"]
                         for n in r["recipients"] if n in created]
            steady_counts = Counter(n for r in steady_log["requests"] for n in r["recipients"])
            if len(steady_counts) != args.steady or set(steady_counts.values()) != {1}:
                problems.append(f"steady: {len(steady_counts)} of {args.steady} reached once")
            stop(workers)
            # --- phase 3: one process, timed ---------------------------------------------
            # As many messages per text as in the backlog, so the batches have its shape.
            sample = min(args.messages, 2000)
            parts = breakdown(app, sample, args.bodies and max(
                1, round(sample * args.bodies / args.messages)), fake)
    finally:
        stop(workers)
        fake.stop()

    # From the gateway's first request to its last, both measured by the fake server, so
    # neither side's start-up counts: the messages after the first batch, per second.
    after_first = args.messages - len(batches[0]["recipients"])
    rate, bare_rate = after_first / drain, after_first / bare
    ratio = rate / bare_rate
    sizes = [len(r["recipients"]) for r in batches]
    print(f"outbox benchmark: {args.messages} queued replies, {args.bodies or 'all'} distinct "
          f"texts, {args.workers} workers, rate limit off, {psutil.cpu_count()} CPUs")
    print(f"queueing them (queue_sms, commits of {args.per_commit}) took {queued_in:.1f} s "
          f"({args.messages / queued_in:.0f}/s)\n")
    print(table([
        ["sender", "messages/s", "requests", "recipients/request", "elapsed"],
        ["hotline workers", f"{rate:.0f}", str(len(sizes)), f"{sum(sizes) / len(sizes):.1f}",
         f"{drain:.2f} s"],
        ["bare requests loop", f"{bare_rate:.0f}", str(len(sizes)),
         f"{sum(sizes) / len(sizes):.1f}", f"{bare:.2f} s"],
    ]))
    print(f"(the workers were listening {ready:.1f} s after they were started; their first "
          f"request came {ms(first_request)} after the jobs were released)")
    n = max(1, len(sizes))
    print(f"\nCPU per batch while draining: workers {ms(worker_cpu.seconds / n)}, PostgreSQL "
          f"{ms(postgres_cpu.seconds / n)}, fake gateway {ms(fake_cpu.seconds / n)}; the bare "
          f"loop: client {ms(bare_client / n)}, fake gateway {ms(bare_fake.seconds / n)} "
          f"({psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    print(f"steady arrivals at {args.steady_rate:.0f}/s ({args.steady} messages): "
          f"queue-to-gateway p50 {ms(percentile(latencies, 50))}, "
          f"p99 {ms(percentile(latencies, 99))}, max {ms(max(latencies, default=float('nan')))}")
    bare_batch = bare / max(1, len(sizes) - 1)
    rest = parts["total"] - parts["sql"] - parts["gateway"]
    print(f"\nwhere a batch's time goes (send() in one process, {parts['batches']:.0f} batches "
          f"of the same shape): {ms(parts['total'])} per batch = SQL {ms(parts['sql'])} "
          f"({parts['statements']:.2f} statements, each its own transaction) + gateway "
          f"through the SDK {ms(parts['gateway'])} + the rest (Python, Redis) {ms(rest)}; "
          f"CPU per batch: this process {ms(parts['cpu'])}, PostgreSQL "
          f"{ms(parts['postgres'])}, fake gateway {ms(parts['fake'])}. The bare loop spends "
          f"{ms(bare_batch)} per batch")
    print(f"\nworkers / bare loop: {ratio:.2f} (target >= {TARGET}) {verdict(ratio >= TARGET)}")
    if problems:
        shout(problems)
        return 1
    return 0 if ratio >= TARGET else 2


if __name__ == "__main__":
    sys.exit(main())
