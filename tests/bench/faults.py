"""Faults under gunicorn in production mode: what callers see while PostgreSQL or Redis fails.

Run from the repository root (PostgreSQL on localhost; ``redis-server`` on PATH)::

    .venv/bin/python -m tests.bench.faults [--callers 8] [--fault-for 8]

The real app is served by gunicorn with ``config/gunicorn.conf.py`` and the production
time limits of ``config/defaults.toml``. It reaches PostgreSQL through a TCP proxy this
script controls and uses a redis-server of its own (both on ephemeral loopback ports).
For each fault, callers keep running the USSD callback flow (reading each screen for
``--pause`` s); mid-load the proxy refuses, hangs or drops connections, or Redis is
killed, for ``--fault-for`` seconds, while ``/readyz`` is polled. Printed per fault:
hops answered within the gateway's 10 s / total, references confirmed to callers /
stored (and whether they are the same), worst hop latency, worst ``/readyz`` latency.

It empties the tables of the database it is given (``--database-url``, default
``HOTLINE_TEST_DATABASE_URL``): give it a scratch database.
Exit status: 0 every target met, 2 a target missed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import sys
import threading
from urllib.parse import urlencode

import sqlalchemy as sa

from tests import faultkit
from tests.bench.common import Server, Workers, base_env, empty_tables, ensure_database, migrate
from tests.faultproxy import FaultProxy

TOKEN = "bench-faults-token-" + secrets.token_hex(16)


class HttpTransport:
    """Keep-alive HTTP/1.1 to gunicorn, one connection per caller thread."""

    def __init__(self, port: int, timeout: float = 15.0) -> None:
        self.port, self.timeout = port, timeout
        self.local = threading.local()

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]
                 ) -> tuple[int, str]:
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.read().decode()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post(self, path: str, form: dict[str, str]) -> tuple[int, str]:
        return self._request("POST", path, urlencode(form).encode(),
                             {"Content-Type": "application/x-www-form-urlencoded"})

    def get(self, path: str) -> tuple[int, str]:
        return self._request("GET", path, None, {})


def stored(database_url: str) -> set[str]:
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        refs = set(conn.scalars(sa.text("SELECT ref FROM callback_requests")))
    engine.dispose()
    return refs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "HOTLINE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_test"))
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--pause", type=float, default=0.3, help="seconds a caller reads")
    parser.add_argument("--fault-after", type=float, default=2.0)
    parser.add_argument("--fault-for", type=float, default=8.0)
    parser.add_argument("--recover-for", type=float, default=4.0)
    parser.add_argument("--faults", default="refuse,hang,drop,redis")
    args = parser.parse_args()

    url = sa.engine.make_url(args.database_url)
    ensure_database(args.database_url)
    own_redis = faultkit.OwnRedis().start()
    proxy = FaultProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    host, port = proxy.address()
    env = base_env(env="production", database_url=url.set(host=host, port=port)
                   .render_as_string(hide_password=False), redis_url=own_redis.url,
                   secret_key=secrets.token_hex(32), webhook_token=TOKEN,
                   at_username="bench", at_api_key="bench-key", web_workers="2")
    migrate({**env, "HOTLINE_DATABASE_URL": args.database_url})
    results: list[faultkit.Outcome] = []
    total = args.fault_after + args.fault_for + args.recover_for
    print(f"faults under gunicorn (production limits), {args.callers} callers, "
          f"fault for {args.fault_for:.0f} s of {total:.0f} s")
    try:
        for index, fault in enumerate(args.faults.split(",")):
            empty_tables(args.database_url)
            if own_redis.proc is None or own_redis.proc.poll() is not None:
                own_redis = faultkit.OwnRedis().start()  # the last fault killed it
                env["HOTLINE_REDIS_URL"] = own_redis.url
            with Server("hotline:create_app()", Workers(), env, ready_path="/readyz") as server:
                transport = HttpTransport(server.port)
                if fault == "redis":
                    on, off = own_redis.stop, (lambda: None)
                else:
                    on, off = (lambda f=fault: proxy.set(f)), (lambda: proxy.set("pass"))
                outcome = faultkit.run(transport, TOKEN, f"db {fault}" if fault != "redis"
                                       else "redis killed", on, off,
                                       lambda: stored(args.database_url), callers=args.callers,
                                       fault_after=args.fault_after, fault_for=args.fault_for,
                                       recover_for=args.recover_for, pause=args.pause,
                                       prefix=index + 1, recovers=fault != "redis")
                results.append(outcome)
                print(outcome.line(), flush=True)
                if outcome.bad_answers:
                    print("  bad answers:", outcome.bad_answers[:3])
                for ref in sorted(outcome.stored ^ outcome.confirmed)[:3]:
                    said = "stored, caller told sorry" if ref in outcome.stored \
                        else "confirmed, NOT STORED"
                    print(f"  {ref}: {said}")
    finally:
        proxy.stop()
        own_redis.stop()
    ok = all(o.within == o.hops and not o.bad_answers and o.confirmed == o.stored
             and o.worst_ready < faultkit.READY_LIMIT for o in results)
    print("targets: every hop within 10 s, confirmed == stored, /readyz within 2 s: "
          + ("met" if ok else "MISSED"))
    print("command: .venv/bin/python -m tests.bench.faults " + " ".join(sys.argv[1:]))
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
