"""Benchmark: one community alert fanned out to N subscribers through real rq workers.

    .venv/bin/python -m tests.bench.broadcast                          # 2,000 then 10,000
    .venv/bin/python -m tests.bench.broadcast --subscribers 10000 100000

For each size, on a freshly migrated scratch database: N subscribers in PostgreSQL (half
Arabic, half English, one area), a leader's urgent alert confirmed through the same
service the USSD confirmation calls, and ``--workers`` real rq workers (their own
processes, the app built as production builds it) sending through the africastalking SDK
to the fake Africa's Talking server (tests/fakeat.py) with the rate limit off. Printed:

- recipients/s from the confirmation to the last message accepted by the gateway;
- the fan-out phase alone: outbox rows written per second;
- the reference in the same run: the same N rows written by ONE set-based
  ``INSERT … SELECT`` (in a transaction rolled back), and the fan-out's ratio to it;
- the peak resident memory of each process (sampled every 20 ms).

Targets (issue 11): fan-out within 2x of the single INSERT … SELECT; at least 5,000
recipients/s to the gateway on 2 cores; peak RSS under 250 MB and flat from 10,000 to
100,000 subscribers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import sqlalchemy as sa

from tests.bench.common import (
    MB,
    ROOT,
    ensure_database,
    flush_redis,
    require_scratch,
    reset_schema,
)
from tests.fakeat import FakeAT

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_alerts"
REDIS_URL = "redis://127.0.0.1:6379/13"
LEADER = "+249955500000"
AREA = "KH-OMD"


def settings(args: argparse.Namespace, fake: FakeAT) -> dict:
    return {"ENV": "development", "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url, "SECRET_KEY": "bench-" + "x" * 40,
            "WEBHOOK_TOKEN": "bench-token-0123456789", "AT_USERNAME": "hotline",
            "AT_API_KEY": fake.api_key, "AT_SENDER_ID": "MRRC", "AT_BASE_URL": fake.url,
            "OUTBOX": {"rate_parts_per_second": 0},
            "ALERTS": {"fanout_chunk": args.chunk}}


def worker_main(overrides: str) -> None:
    """``--worker``: one rq worker with these settings, until killed."""
    import logging

    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from hotline import create_app
    from hotline.jobqueue import QUEUES, jobs

    app = create_app(json.loads(overrides))
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    logging.getLogger("hotline").setLevel(logging.WARNING)
    with app.app_context():
        queue = jobs()
        SimpleWorker([queue.queues[n] for n in QUEUES], connection=queue.connection,
                     serializer=JSONSerializer).work(logging_level="WARNING", with_scheduler=True)


class Peaks:
    """Peak RSS of each watched process, sampled in a thread."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.pids = processes
        self.peak = dict.fromkeys(processes, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        handles = {name: psutil.Process(pid) for name, pid in self.pids.items()}
        while not self._stop.is_set():
            for name, proc in handles.items():
                try:
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def seed(engine: sa.Engine, n: int) -> None:
    """N subscribers with one statement per table (how they got there does not matter)."""
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO contacts (phone, language, created_at, last_seen_at, hard_failures) "
            "SELECT '+2499' || lpad(i::text, 8, '0'), CASE WHEN i % 2 = 0 THEN 'ar' ELSE 'en' "
            "END, now(), now(), 0 FROM generate_series(1, :n) AS i"), {"n": n})
        conn.execute(sa.text(
            "INSERT INTO subscriptions (contact_id, area_code, topic, channel, created_at) "
            "SELECT id, :area, 'safety', 'ussd', now() FROM contacts"), {"area": AREA})
        conn.execute(sa.text("ANALYZE"))


def reference_insert(engine: sa.Engine, n: int) -> float:
    """Seconds for one set-based INSERT … SELECT of the same N outbox rows (rolled back):
    the same columns, indexes and foreign keys, none of the fan-out's checks."""
    with engine.connect() as conn:
        trans = conn.begin()
        start = time.perf_counter()
        conn.execute(sa.text("""
            INSERT INTO outbox_messages (idempotency_key, kind, recipient, body, language,
                encoding, parts, priority, status, attempts, provider_status, error,
                contact_id, created_at, updated_at, broadcast_id)
            SELECT 'ref:' || c.id, 'alert', c.phone,
                CASE WHEN c.language = 'en' THEN 'english text' ELSE 'arabic text' END,
                c.language, 'GSM-7', 1, 'bulk', 'queued', 0, '', '', c.id, now(), now(),
                (SELECT min(id) FROM broadcasts)
            FROM contacts c JOIN subscriptions s ON s.contact_id = c.id
            WHERE s.area_code = :area AND s.topic = 'safety'"""), {"area": AREA})
        took = time.perf_counter() - start
        trans.rollback()
    return took


def run_size(args: argparse.Namespace, n: int) -> dict:
    reset_schema(args.database_url)
    flush_redis(args.redis_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(PYTHONPATH=str(ROOT), HOTLINE_DATABASE_URL=args.database_url)
    done = subprocess.run([str(Path(sys.executable).parent / "hotline"), "db", "upgrade"],
                          env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    engine = sa.create_engine(args.database_url)
    seed(engine, n)

    from hotline import create_app
    from hotline.extensions import db
    from hotline.services import broadcasts, leaders

    with FakeAT() as fake:
        overrides = settings(args, fake)
        app = create_app(overrides)
        workers = [subprocess.Popen([sys.executable, "-m", "tests.bench.broadcast", "--worker",
                                     json.dumps(overrides)], cwd=ROOT, env=env)
                   for _ in range(args.workers)]
        try:
            time.sleep(args.settle)  # workers import and connect before the clock starts
            watched = {f"worker {i + 1}": w.pid for i, w in enumerate(workers)}
            watched["bench (fake gateway, confirm)"] = os.getpid()
            with app.app_context(), Peaks(watched) as peaks:
                staff = db.session.execute(sa.text(
                    "INSERT INTO staff_users (email, name, password_hash, role, active, "
                    "failed_logins, created_at) VALUES ('b@x.example', 'B', 'x', 'admin', true,"
                    " 0, now()) RETURNING id")).scalar_one()
                db.session.commit()
                leaders.register("Bench Leader", LEADER, [AREA], 5, staff)
                start = time.perf_counter()
                made = broadcasts.create_from_leader(LEADER, "closure",
                                                     {"place": "Souq", "day": "today"}, AREA,
                                                     key="bench:confirm")
                db.session.commit()
                assert made.outcome == "ok" and made.broadcast is not None, made
                bid = made.broadcast.id
                fanned = None
                deadline = start + args.timeout
                shown = start
                while time.perf_counter() < deadline:
                    if time.perf_counter() - shown > 5:
                        shown = time.perf_counter()
                        print(f"  {shown - start:.0f} s: fanned out {fanned is not None}, "
                              f"{fake.total():,} handed to the gateway", flush=True)
                    if fanned is None:
                        at = db.session.execute(sa.text(
                            "SELECT fanned_out_at FROM broadcasts WHERE id = :b"),
                            {"b": bid}).scalar()
                        db.session.commit()
                        if at is not None:
                            fanned = time.perf_counter() - start
                    if fake.total() >= n:
                        break
                    time.sleep(0.01)
                total = time.perf_counter() - start
                handed = fake.total()
            with engine.connect() as conn:  # closed: an open one would block the next reset
                rows = conn.execute(sa.text(
                    "SELECT count(*) FROM outbox_messages WHERE broadcast_id = :b"),
                    {"b": bid}).scalar()
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(timeout=30)
    reference = reference_insert(engine, n)
    engine.dispose()
    with app.app_context():
        db.engine.dispose()
    return {"n": n, "total": total, "fanned": fanned, "handed": handed, "rows": rows,
            "reference": reference, "peaks": peaks.peak, "once": max(fake.accepted.values())}


def report(result: dict) -> None:
    n, fanned, ref = result["n"], result["fanned"], result["reference"]
    print(f"\n== {n:,} subscribers ==")
    print(f"handed to the gateway: {result['handed']:,} of {n:,} "
          f"(most to one number: {result['once']}), outbox rows {result['rows']:,}")
    print(f"confirm -> all handed to the gateway: {result['total']:.2f} s = "
          f"{result['handed'] / result['total']:,.0f} recipients/s (target >= 5,000)")
    if fanned:
        print(f"fan-out phase: {fanned:.2f} s = {result['rows'] / fanned:,.0f} rows/s")
    print(f"reference, one INSERT … SELECT of the same {n:,} rows: {ref:.2f} s = "
          f"{n / ref:,.0f} rows/s")
    if fanned:
        print(f"fan-out / reference: {fanned / ref:.2f}x (target <= 2x)")
    for name, peak in result["peaks"].items():
        print(f"peak RSS {name}: {peak / MB:.0f} MB")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.broadcast",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[2000, 10000],
                        help="sizes to run, each on a fresh database [2000 10000]")
    parser.add_argument("--workers", type=int, default=2, help="rq worker processes [2]")
    parser.add_argument("--chunk", type=int, default=2000, help="fan-out chunk [2000]")
    parser.add_argument("--settle", type=float, default=4.0,
                        help="seconds the workers get to start before the clock [4]")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    require_scratch(args.database_url, args.redis_url)
    ensure_database(args.database_url)
    print(f"workers {args.workers}, chunk {args.chunk}, rate limit off, "
          f"cores {psutil.cpu_count()}")
    for n in args.subscribers:
        report(run_size(args, n))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
