"""USSD hop cost in instructions, counted by valgrind: the app against the redis-only route.

Run from the repository root (PostgreSQL, Redis and valgrind on the machine)::

    .venv/bin/python -m tests.bench.ussd_instructions      # about 8 minutes

On a shared machine the CPU time of the same code swings by 20-40% from run to run, so
a cut of a tenth cannot be seen in ``ussd_hops.py``'s gunicorn figures. Instructions
counted by ``valgrind --tool=callgrind`` repeat to a fraction of a per cent whatever
else the machine does. Each server (the real app and ``bare_app.redis_only``) replays
the same hops of ``ussd_hops.py``'s mix through its WSGI callable in one process, once
with ``--from`` hops and once with ``--to``; the difference over the hops between is
the cost of a warm hop, start-up and first-use costs cancelled out. What this counts is
the Python process's own work (parsing, framework, engine, client libraries); the
kernel's share of each round trip to Redis and PostgreSQL is not in it, so it is the
app's extra work, not a replacement for the gunicorn benchmark. Wipes what
``ussd_hops.py`` wipes.
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import re
import subprocess
import sys
import tempfile
from typing import Any

from tests.bench import ussd_hops
from tests.bench.common import (
    ROOT,
    empty_tables,
    ensure_database,
    flush_redis,
    migrate,
    require_scratch,
    reset_schema,
)


def hop_bodies(env: dict[str, str], count: int, seed: int) -> list[bytes]:
    """The first ``count`` hops that 32 callers of ``ussd_hops.caller`` post, in turn."""
    walks, busy = ussd_hops.prepare(env, seed)
    data = {"walks": walks, "token": ussd_hops.TOKEN, "busy": busy, "app": True}
    callers = [ussd_hops.caller(data, i, seed) for i in range(32)]
    bodies: list[bytes] = []
    while len(bodies) < count:
        bodies.extend(next(c).body for c in callers)
    return bodies[:count]


def replay(server: str, bodies_file: str, count: int) -> None:
    """In this process: serve the first ``count`` hops with ``server`` (app or redis-only)."""
    args = ussd_hops.parse([])
    env = ussd_hops.bench_env(args)
    with open(bodies_file, "rb") as f:
        bodies: list[bytes] = pickle.load(f)[:count]  # noqa: S301 (our own file)
    empty_tables(args.database_url)
    flush_redis(args.redis_url)
    if server == "app":
        from hotline.app import create_app
        wsgi: Any = create_app({k[len("HOTLINE_"):]: v for k, v in env.items()
                                if k.startswith("HOTLINE_")})
    else:
        from tests.bench.bare_app import redis_only as wsgi

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"{server}: {status}")

    for body in bodies:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/webhooks/at/ussd",
                   "QUERY_STRING": f"token={ussd_hops.TOKEN}", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
                   "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
                   "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
                   "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
                   "CONTENT_TYPE": "application/x-www-form-urlencoded",
                   "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8000",
                   "REMOTE_ADDR": "127.0.0.1"}
        answer = wsgi(environ, start_response)
        b"".join(answer)
        getattr(answer, "close", lambda: None)()


def instructions(server: str, bodies_file: str, count: int) -> int:
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
         "-m", "tests.bench.ussd_instructions", "--replay", server, bodies_file, str(count)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        raise SystemExit(f"valgrind run failed ({server}, {count} hops):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ussd_instructions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="low", type=int, default=300)
    parser.add_argument("--to", dest="high", type=int, default=1400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replay", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.replay:
        server, bodies_file, count = args.replay
        replay(server, bodies_file, int(count))
        return 0
    bench = ussd_hops.parse([])
    env = ussd_hops.bench_env(bench)
    require_scratch(bench.database_url, bench.redis_url)
    ensure_database(bench.database_url)
    reset_schema(bench.database_url)
    migrate(env)
    with tempfile.NamedTemporaryFile(suffix=".pickle") as bodies_file:
        pickle.dump(hop_bodies(env, args.high, args.seed), bodies_file)
        bodies_file.flush()
        per_hop = {}
        for server in ("redis-only", "app"):
            low = instructions(server, bodies_file.name, args.low)
            high = instructions(server, bodies_file.name, args.high)
            per_hop[server] = (high - low) / (args.high - args.low)
            print(f"{server}: {per_hop[server]:,.0f} instructions per hop "
                  f"(hops {args.low + 1}-{args.high} of the mix)", flush=True)
    print(f"app/redis-only: {per_hop['app'] / per_hop['redis-only']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
