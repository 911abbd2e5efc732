"""USSD under overload: new sessions arrive at a fixed rate whether or not the server keeps
up (as callers do), beyond capacity, then the load drops.

Run from the repository root (PostgreSQL and Redis on localhost)::

    .venv/bin/python -m tests.bench.ussd_overload --rate 250 --seconds 60

One gunicorn with production's settings serves the real app. Each session walks one of
the paths of ``tests.bench.ussd_hops`` (every reply checked byte for byte), one new
connection per hop, and stops when it is answered "busy" (the caller would dial again
later); a busy answer must be in the caller's language (both languages before one is
chosen), else it counts as wrong. Printed per phase: hops answered with the right
screen, busy, wrong or failed, latency p50/p99/max of all hops and of the busy answers
alone, the CPU of the machine. Targets of issue 13: no hop over 5 s, and no busy answer
once the load has dropped (after its first second). Exit status: 0 met, 1 a wrong reply
or failed hop, 2 a target missed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import psutil

from tests.bench.common import (
    Connection,
    Exchange,
    Server,
    Workers,
    ensure_database,
    migrate,
    ms,
    percentile,
    require_scratch,
    reset_schema,
    table,
    verdict,
)
from tests.bench.ussd_hops import (
    DATABASE_URL,
    NETWORK,
    REDIS_URL,
    SERVICE_CODE,
    TOKEN,
    Walk,
    bench_env,
    busy_for,
    prepare,
)

TARGET_WORST = 5.0


@dataclass
class Phase:
    name: str
    rate: float
    seconds: float
    latencies: list[float] = field(default_factory=list)
    busy_latencies: list[float] = field(default_factory=list)
    late_busy: int = 0  # busy answers after the phase's first second
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("right screen", "busy", "wrong", "failed"), 0))
    sessions: int = 0
    cpu: float = 0.0


async def session(port: int, walk: Walk, phone: str, phase: Phase, busy: dict[str, bytes],
                  started: float) -> None:
    inputs, replies, _, _ = walk
    sid = f"ATUid_{random.getrandbits(128):032x}"
    target = f"/webhooks/at/ussd?token={TOKEN}"
    for hop, expected in enumerate(replies):
        body = urlencode({"sessionId": sid, "serviceCode": SERVICE_CODE, "phoneNumber": phone,
                          "networkCode": NETWORK, "text": "*".join(inputs[:hop])}).encode()
        conn = Connection(port)
        sent = time.monotonic()
        try:
            _, answer = await asyncio.wait_for(
                conn.send(Exchange("POST", target, body, lambda s, b: None), close=True), 30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            phase.counts["failed"] += 1
            phase.latencies.append(time.monotonic() - sent)
            return
        finally:
            conn.close()
        phase.latencies.append(time.monotonic() - sent)
        if answer == busy_for(walk, hop, busy) and answer != expected:
            phase.counts["busy"] += 1
            phase.busy_latencies.append(phase.latencies[-1])
            phase.late_busy += sent - started > 1.0
            return
        kind = "right screen" if answer == expected else "wrong"
        phase.counts[kind] += 1
        if kind == "wrong":
            return


async def drive(port: int, walks: dict[str, list[Walk]], phases: list[Phase],
                busy: dict[str, bytes]) -> None:
    rng = random.Random(7)
    tasks: set[asyncio.Task] = set()
    number = 0
    for phase in phases:
        cpu = psutil.cpu_times()
        started = time.monotonic()
        while (now := time.monotonic()) < started + phase.seconds:
            due = int((now - started) * phase.rate) + 1 - phase.sessions
            for _ in range(max(0, due)):
                number += 1
                phase.sessions += 1
                task = asyncio.create_task(session(port, rng.choice(walks[""]),
                                                   f"+24991{number:07d}", phase, busy, started))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(0.005)
        after = psutil.cpu_times()
        idle = lambda t: t.idle + getattr(t, "iowait", 0.0)  # noqa: E731
        phase.cpu = 1 - (idle(after) - idle(cpu)) / max(1e-9, sum(after) - sum(cpu))
    await asyncio.gather(*tasks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ussd_overload",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=250,
                        help="new sessions per second while overloaded [250, about 2,000 "
                             "hops/s offered]")
    parser.add_argument("--seconds", type=float, default=60, help="overload length [60]")
    parser.add_argument("--after-rate", type=float, default=20,
                        help="new sessions per second once the load drops [20]")
    parser.add_argument("--after", type=float, default=10, help="seconds after the drop [10]")
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args(argv)
    env = bench_env(args)
    require_scratch(args.database_url, args.redis_url)
    ensure_database(args.database_url)
    reset_schema(args.database_url)
    migrate(env)
    walks, busy = prepare(env, 1)
    hops = sum(len(replies) for _, replies, _, _ in walks[""]) / len(walks[""])
    phases = [Phase("overload", args.rate, args.seconds),
              Phase("after", args.after_rate, args.after)]
    workers = Workers()
    print(f"{workers.describe(env)}\nnew callers' sessions of {hops:.1f} hops on average: "
          f"{args.rate:g} sessions/s offer about {args.rate * hops:.0f} hops/s, then "
          f"{args.after_rate:g} ({args.after_rate * hops:.0f} hops/s)")
    print(f"{os.cpu_count()} CPUs; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} before", flush=True)
    with Server("hotline:create_app()", workers, env, ready_path="/readyz") as server:
        asyncio.run(drive(server.port, walks, phases, busy))
    rows = [["phase", "sessions/s", "hops", *phases[0].counts, "p50", "p99", "max",
             "busy p50", "busy p99", "busy max", "machine CPU"]]
    for p in phases:
        rows.append([p.name, f"{p.rate:g} for {p.seconds:g} s", str(len(p.latencies)),
                     *(str(v) for v in p.counts.values()), ms(percentile(p.latencies, 50)),
                     ms(percentile(p.latencies, 99)), ms(max(p.latencies, default=0.0)),
                     ms(percentile(p.busy_latencies, 50)), ms(percentile(p.busy_latencies, 99)),
                     ms(max(p.busy_latencies, default=math.nan)), f"{p.cpu:.0%}"])
    print(table(rows))
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    worst = max(max(p.latencies, default=0.0) for p in phases)
    checks = [(f"every hop answered within {TARGET_WORST:g} s", ms(worst), worst <= TARGET_WORST),
              ("no busy answer after the drop's first second", str(phases[1].late_busy),
               phases[1].late_busy == 0)]
    print(table([["target", "measured", ""], *[[t, v, verdict(ok)] for t, v, ok in checks]]))
    if any(p.counts["wrong"] or p.counts["failed"] for p in phases):
        print("ERRORS: wrong or failed replies (see the table)")
        return 1
    return 0 if all(ok for _, _, ok in checks) else 2


if __name__ == "__main__":
    sys.exit(main())
