"""The worklist, a request page with its caller history, and the statistics pages with
10,000 open and 100,000 closed requests: p50, p95 and max, and the SQL queries each page
runs, against a trivial signed-in page.

Run from the repository root (PostgreSQL and Redis on localhost)::

    .venv/bin/python -m tests.bench.queue_page            # reuses the loaded data
    .venv/bin/python -m tests.bench.queue_page --reload   # loads it again
    .venv/bin/python -m tests.bench.queue_page --explain  # also EXPLAIN ANALYZE every query
    .venv/bin/python -m tests.bench.queue_page --rounds 20 --explain-only worklist,history

The data lives in its own database, ``hotline_bench_queue``, migrated with the project's
own migrations and filled with COPY: requests spread over a year, in the mix of reasons,
languages and channels the hotline expects, with callers, claims and three timeline
events each. A later run reuses it when the counts are right and only applies new
migrations (``--reload`` drops the schema and starts over); every run ends the setup
with VACUUM ANALYZE. Redis db 11 holds the sign-in sessions and is flushed each run.

Each page is measured three ways, one request at a time, the pages taken in turn so a
busy moment of the machine falls on all of them alike:

* over HTTP from the real app served by gunicorn with production's settings
  (``config/gunicorn.conf.py``, as ``ussd_hops``), signed in as a supervisor with a real
  session cookie: what a member of staff waits for, minus the network;
* in this process through Flask's test client, where a ``before_cursor_execute``
  listener counts the page's SQL statements and the time they took;
* the service functions alone (``list_queue``, ``get_request``, ``statistics``).

The worklist is measured as staff open it (urgent first, then by deadline, each row's
state worked out), with "callable now", and on its last page; the request page is the
one of the caller with the most requests, so its history panel is the longest there is.

Baselines in the same run: ``/healthz`` and ``/staff/account``, a signed-in page with
the same layout and no queue data (session, CSRF token and template cost only).
Every page's answer is checked (status, and the first request or the open total it must
show). Exit status: 0 every target met, 1 an error, 2 a target missed.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine, make_url

from hotline.app import create_app
from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, StaffUser
from hotline.services.callback_policy import OUTCOMES, REF_ALPHABET, REFERRALS
from hotline.services.stats import statistics, trends
from hotline.services.worklist import QueueFilter, get_request, list_queue
from hotline.staff import users
from tests.bench.common import (
    HOST,
    CpuSnapshot,
    Server,
    Workers,
    base_env,
    ensure_database,
    flush_redis,
    migrate,
    ms,
    percentile,
    require_scratch,
    reset_schema,
    shout,
    table,
    verdict,
)

DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_bench_queue"
REDIS_URL = "redis://127.0.0.1:6379/11"
SUPERVISOR = "bench-supervisor@example.org"
PASSWORD = "bench supervisor password 0123"
OPEN, CLOSED, EVENTS_PER_REQUEST = 10_000, 100_000, 3
CONTACTS = 70_000
AGENTS = 12
TARGET_P95 = 0.150
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- data --------------------------------------------------------------------------------------

REASON_MIX = {"info": 30, "medical": 15, "counselling": 12, "avrr": 12, "resettlement": 10,
              "danger": 6, "other": 5}
CHANNEL_MIX = {"ussd": 72, "missed_call": 22, "sms": 6}
CLOSED_MIX = {"resolved": 80, "unreachable": 15, "withdrawn": 5}
OUTCOME_MIX = {o: w for o, w in zip(OUTCOMES, (30, 25, 20, 10, 5, 3, 3, 4), strict=True)}
REFERRAL_MIX = {r: w for r, w in zip(REFERRALS, (15, 10, 10, 10, 5, 50), strict=True)}
TIMES = ("morning", "afternoon", "evening")
REQUEST_COLUMNS = (
    "id", "ref", "contact_id", "channel", "reason", "language", "safe_to_call", "safe_times",
    "sms_ok", "status", "priority", "deadline_at", "created_at", "updated_at",
    "first_attempt_at", "attempts", "next_attempt_at", "claimed_by_id", "claim_expires_at",
    "outcome", "referral", "resolved_at", "rings", "last_ring_at", "sms_confirmation")
EVENT_COLUMNS = ("request_id", "at", "kind", "staff_id", "detail", "note")


def pick(rng: random.Random, mix: dict[str, int]) -> str:
    return rng.choices(list(mix), list(mix.values()))[0]


def ref_for(request_id: int) -> str:
    """A distinct 7-symbol reference per id: an odd multiplier permutes 0..8**7-1."""
    n = request_id * 1_000_003 % 8**7
    return "".join(REF_ALPHABET[n >> (3 * i) & 7] for i in range(7))


def request_rows(now: datetime, staff: list[int], rng: random.Random
                 ) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """Each request as a COPY row, with its three timeline events.

    Open work is the backlog of the last four months, most of it recent; closed work
    spreads evenly over the year. A fifth of the first calls come after the deadline.
    """
    ages = [(True, timedelta(days=120) * rng.random() ** 2) for _ in range(OPEN)]
    ages += [(False, timedelta(days=365) * rng.random()) for _ in range(CLOSED)]
    ages.sort(key=lambda item: item[1], reverse=True)  # ids grow with time, as in production
    for request_id, (is_open, age) in enumerate(ages, start=1):
        created = now - age
        channel = pick(rng, CHANNEL_MIX)
        told = channel != "missed_call" or rng.random() < 0.5  # a missed call is asked later
        reason = pick(rng, REASON_MIX) if told else "unknown"
        language = rng.choice(("ar",) * 7 + ("en",) * 3) if told else None
        safe = (rng.choice(("yes",) * 7 + ("times",) * 3)) if told else "unknown"
        times = ",".join(sorted(rng.sample(TIMES, rng.randint(1, 2)),
                                key=TIMES.index)) if safe == "times" else ""
        sms_ok = rng.random() < 0.4 if told else None
        priority = 0 if reason == "danger" else 1
        deadline = created + (timedelta(hours=2) if priority == 0
                              else timedelta(days=rng.choice((1, 1, 1, 2, 3))))
        rings = rng.randint(1, 3) if channel == "missed_call" else 0
        status = "open" if is_open else pick(rng, CLOSED_MIX)
        tried = rng.random() < (0.35 if is_open else 0.97) and status != "withdrawn"
        first = created + timedelta(hours=rng.expovariate(1 / 18)) if tried else None
        if first is not None and first > now:
            first = now - timedelta(minutes=1)
        holder = rng.choice(staff)
        attempts = (4 if status == "unreachable" else rng.randint(1, 3)) if tried else 0
        claimed = claim_expires = next_try = outcome = referral = closed_at = None
        events = [(request_id, created, "created", None, f"{channel}: {reason}", "")]
        if is_open:
            if rng.random() < 0.04:  # someone is calling right now
                claimed, claim_expires = holder, now + timedelta(minutes=rng.randint(1, 15))
            next_try = (first or created) + timedelta(minutes=rng.choice((30, 120, 420)))
            if first is not None:
                events += [(request_id, first, "attempt", holder, "no_answer", ""),
                           (request_id, first, "rescheduled", None,
                            next_try.strftime("%Y-%m-%d %H:%M UTC"), "")]
            else:
                events += [(request_id, created, "ring" if rings else "updated", None,
                            "missed call (1)" if rings else f"{channel}: asked again", "")] * 2
        else:
            closed_at = (first or created) + timedelta(minutes=rng.expovariate(1 / 90))
            if status == "resolved":
                outcome, referral = pick(rng, OUTCOME_MIX), pick(rng, REFERRAL_MIX)
                events += [(request_id, first or created, "attempt", holder, "reached", ""),
                           (request_id, closed_at, "resolved", holder,
                            f"{outcome}; referral: {referral}", "")]
            elif status == "unreachable":
                outcome = "unreachable"
                events += [(request_id, first or created, "attempt", holder, "no_answer", ""),
                           (request_id, closed_at, "unreachable", None,
                            "4 attempts without answer", "")]
            else:
                events += [(request_id, created, "updated", None, f"{channel}: asked again", ""),
                           (request_id, closed_at, "withdrawn", None, "the caller withdrew", "")]
        ref = ref_for(request_id)
        updated = max(e[1] for e in events)
        row = (request_id, ref, rng.randint(1, CONTACTS), channel, reason, language, safe,
               times, sms_ok, status, priority, deadline, created, updated, first, attempts,
               next_try, claimed, claim_expires, outcome, referral, closed_at, rings,
               created if rings else None, f"Ref {ref}" if sms_ok else None)
        yield row, events


def counts(engine: Engine) -> tuple[int, int, int, bool]:
    with engine.connect() as conn:
        open_n, closed_n = conn.execute(select(
            func.count().filter(CallbackRequest.status == "open"),
            func.count().filter(CallbackRequest.status != "open"))).one()
        events = conn.execute(select(func.count()).select_from(CallbackEvent)).scalar_one()
        staff = conn.execute(select(StaffUser.id).where(StaffUser.email == SUPERVISOR)).first()
    return open_n, closed_n, events, staff is not None


def load(app: Flask, url: str, env: dict[str, str], seed: int) -> None:
    """A fresh schema, filled: staff through the service, everything else by COPY."""
    reset_schema(url)
    migrate(env)
    with app.app_context():
        users.create(SUPERVISOR, "supervisor", "Bench Supervisor", PASSWORD)
        staff = [users.create(f"agent{n:02d}@example.org", "agent", f"Agent {n:02d}").user.id
                 for n in range(1, AGENTS + 1)]
    now = datetime.now(UTC)
    rng = random.Random(seed)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy("COPY contacts (id, phone, language, created_at, last_seen_at) "
                      "FROM STDIN") as copy:
            for n in range(1, CONTACTS + 1):
                seen = now - timedelta(days=365) * rng.random()
                copy.write_row((n, f"+24991{n:07d}", rng.choice(("ar", "ar", "en")),
                                seen - timedelta(days=30) * rng.random(), seen))
        events: list[tuple[Any, ...]] = []
        with cur.copy(f"COPY callback_requests ({', '.join(REQUEST_COLUMNS)}) "
                      "FROM STDIN") as copy:
            for row, its_events in request_rows(now, staff, rng):
                copy.write_row(row)
                events += its_events
        with cur.copy(f"COPY callback_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in events:
                copy.write_row(row)
        for name in ("contacts", "callback_requests", "callback_events"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))")
    vacuum(url)


def vacuum(url: str) -> None:
    """VACUUM ANALYZE: fresh planner statistics, and the visibility map that lets an
    index-only scan skip the table.

    Autovacuum does the same within a minute of a bulk load, or whenever it likes;
    doing it here makes every run start from that settled state.
    """
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --- pages -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """One page measured: its address, the service call behind it, what it must show."""

    name: str
    path: str
    expect: str  # a piece of HTML the answer must contain
    service: Callable[[], object] | None = None
    baseline: bool = False
    target: bool = True


def queue_page(name: str, filters: QueueFilter) -> Page:
    """A queue page, and the first request it must list (computed through the service)."""
    query = {k: v for k in ("status", "reason", "language", "channel", "page")
             if (v := getattr(filters, k)) and not (k == "status" and v == "open")
             and not (k == "page" and v == 1)}
    if filters.callable:
        query["callable"] = "1"
    first = list_queue(filters).items[0].ref
    return Page(name, "/staff/" + (f"?{urlencode(query)}" if query else ""),
                f'data-ref="{first}"', lambda: list_queue(filters))


def pages(app: Flask) -> list[Page]:
    """The pages of the issue, their baselines, and the services measured alone."""
    per_page = app.config["STAFF"]["per_page"]
    with app.app_context():
        now = datetime.now(UTC)
        last_page = -(-OPEN // per_page)
        found = [
            Page("/healthz", "/healthz", '"ok"', baseline=True, target=False),
            Page("/staff/account", "/staff/account", "<h1>Your account</h1>", baseline=True,
                 target=False),
            queue_page("worklist, page 1", QueueFilter(per_page=per_page)),
            queue_page(f"worklist, page {last_page} (last)",
                       QueueFilter(page=last_page, per_page=per_page)),
            queue_page("queue, medical in Arabic",
                       QueueFilter(reason="medical", language="ar", per_page=per_page)),
            queue_page("worklist, callable now",
                       QueueFilter(callable=True, per_page=per_page)),
            queue_page("resolved, page 1", QueueFilter(status="resolved", per_page=per_page)),
            history_page(),
        ]
        open_total = statistics(now=now).open_total
    shows_open = f'<span class="n">{open_total:,}</span> open'

    def numbers(days: int | None) -> None:
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        statistics(since=since)
        trends("Africa/Khartoum", since=since)

    found += [Page(f"statistics, {label}", "/staff/stats" + query, shows_open,
                   lambda days=days: numbers(days))
              for label, query, days in (("30 days (default)", "", 30),
                                         ("all time", "?period=all", None))]
    return found


def history_page() -> Page:
    """The request page of the open request whose caller has the most requests."""
    busiest = db.session.execute(
        select(CallbackRequest.contact_id, func.count())
        .group_by(CallbackRequest.contact_id).order_by(func.count().desc()).limit(1)).one()
    request_id, ref = db.session.execute(
        select(CallbackRequest.id, CallbackRequest.ref)
        .where(CallbackRequest.contact_id == busiest[0])
        .order_by(CallbackRequest.created_at.desc()).limit(1)).one()
    return Page(f"request + caller history ({busiest[1]} requests)",
                f"/staff/requests/{request_id}", f"Request {ref}",
                lambda: get_request(request_id))


def service_only() -> list[tuple[str, Callable[[], object]]]:
    """Calls no page makes yet: resolved requests newest first (``order="newest"``)."""
    return [("list_queue resolved, newest first",
             lambda: list_queue(QueueFilter(status="resolved", order="newest", per_page=25)))]


# --- clients -----------------------------------------------------------------------------------

class Browser:
    """A staff member's browser over one keep-alive connection: cookies, nothing else."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None
                ) -> tuple[int, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or ():
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, text

    def sign_in(self, email: str, password: str) -> None:
        _, html = self.request("GET", "/staff/login")
        token = TOKEN_FIELD.search(html)
        if token is None:
            raise RuntimeError("no CSRF token on the sign-in page")
        status, _ = self.request("POST", "/staff/login", {"email": email, "password": password,
                                                          "csrf_token": token.group(1)})
        if status != 303:
            raise RuntimeError(f"sign-in answered {status}, not 303")

    def close(self) -> None:
        self.conn.close()


class TestBrowser:
    """The same, in this process: Flask's test client, signed in the same way."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def request(self, method: str, path: str) -> tuple[int, str]:
        response = self.client.open(path, method=method)
        return response.status_code, response.get_data(as_text=True)

    def sign_in(self, email: str, password: str) -> None:
        html = self.client.get("/staff/login").get_data(as_text=True)
        token = TOKEN_FIELD.search(html)
        response = self.client.post("/staff/login", data={
            "email": email, "password": password, "csrf_token": token.group(1) if token else ""})
        if response.status_code != 303:
            raise RuntimeError(f"sign-in answered {response.status_code}, not 303")


class SqlCounter:
    """Statements and their time, from the engine's cursor events (in this process only)."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.seconds = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, parameters))
        conn.info["bench.started"] = time.perf_counter()

    def _after(self, conn: Any, *_: Any) -> None:
        self.seconds += time.perf_counter() - conn.info.pop("bench.started")

    def reset(self) -> None:
        self.statements, self.seconds = [], 0.0


# --- measuring ---------------------------------------------------------------------------------

@dataclass
class Timings:
    latencies: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    queries: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


def check(page: Page, status: int, html: str) -> str | None:
    if status != 200:
        return f"{page.name}: HTTP {status}"
    if page.expect not in html:
        return f"{page.name}: the answer does not contain {page.expect!r}"
    return None


def measure(pages_: list[Page], send: Callable[[Page], tuple[int, str]], rounds: int,
            warmup: int, sql: SqlCounter | None = None) -> dict[str, Timings]:
    """Every page once per round, in turn; the warm-up rounds are not counted."""
    results = {page.name: Timings() for page in pages_}
    for n in range(warmup + rounds):
        for page in pages_:
            if sql is not None:
                sql.reset()
            started = time.perf_counter()
            status, html = send(page)
            took = time.perf_counter() - started
            result = results[page.name]
            problem = check(page, status, html)
            if problem is not None and len(result.errors) < 3:
                result.errors.append(problem)
            if n >= warmup:
                result.latencies.append(took)
                if sql is not None:
                    result.sql.append(sql.seconds)
                    result.queries.add(len(sql.statements))
    return results


def time_calls(calls: list[tuple[str, Callable[[], object]]], app: Flask, rounds: int,
               warmup: int, sql: SqlCounter) -> dict[str, Timings]:
    """The service functions alone, each in its own app context as a request would be."""
    results = {name: Timings() for name, _ in calls}
    for n in range(warmup + rounds):
        for name, call in calls:
            with app.app_context():
                sql.reset()
                started = time.perf_counter()
                call()
                took = time.perf_counter() - started
            if n >= warmup:
                results[name].latencies.append(took)
                results[name].sql.append(sql.seconds)
                results[name].queries.add(len(sql.statements))
    return results


def explain(app: Flask, browser: TestBrowser, pages_: list[Page], sql: SqlCounter) -> None:
    """EXPLAIN ANALYZE of every statement a page runs, with the parameters it ran with."""
    for page in pages_:
        if page.baseline:
            continue
        sql.reset()
        browser.request("GET", page.path)
        captured = list(sql.statements)
        print(f"\n=== {page.name}: {page.path} ({len(captured)} statements)")
        with app.app_context():
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, parameters in captured:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    print("\n" + " ".join(statement.split())[:600])
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    print("\n".join("    " + line for (line,) in cursor.fetchall()))
                raw.rollback()
            finally:
                raw.close()


# --- the run -----------------------------------------------------------------------------------

def bench_env(args: argparse.Namespace) -> dict[str, str]:
    return base_env(database_url=args.database_url, redis_url=args.redis_url,
                    webhook_token="bench-webhook-token-0123456789",
                    secret_key="bench-secret-" + "x" * 32)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.queue_page",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="requests per page [50]")
    parser.add_argument("--warmup", type=int, default=3, help="rounds not counted [3]")
    parser.add_argument("--reload", action="store_true", help="load the data again")
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of every query of every page")
    parser.add_argument("--explain-only", default="",
                        help="print EXPLAIN ANALYZE only for pages whose name contains one "
                             "of these comma-separated words (e.g. worklist,history)")
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DATABASE_URL)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")
    return args


def rows_for(results: dict[str, Timings], base: str | None, with_sql: bool
             ) -> list[list[str]]:
    header = ["", "p50", "p95", "max", "p50 / " + (base or "-")]
    if with_sql:
        header += ["queries", "SQL p50"]
    rows = [header]
    reference = results[base].p(50) if base else math.nan
    for name, t in results.items():
        row = [name, ms(t.p(50)), ms(t.p(95)), ms(max(t.latencies, default=math.nan)),
               f"{t.p(50) / reference:.1f}x" if base else "-"]
        if with_sql:
            row += ["/".join(str(q) for q in sorted(t.queries)), ms(percentile(t.sql, 50))]
        rows.append(row)
    return rows


def prepare(args: argparse.Namespace, env: dict[str, str], app: Flask, engine: Engine
            ) -> tuple[int, int, int, bool]:
    """Migrate the data that is there, or load it afresh; then VACUUM ANALYZE."""
    database = make_url(args.database_url).database
    found = None
    try:
        migrate(env)  # the loaded data is kept; a new migration applies to it
        found = counts(engine)
    except RuntimeError as exc:  # e.g. a migration renamed since the data was loaded
        print(f"{exc}\nthe database starts afresh", flush=True)
    if not args.reload and found == (OPEN, CLOSED, (OPEN + CLOSED) * EVENTS_PER_REQUEST, True):
        vacuum(args.database_url)
        return found
    print(f"loading {OPEN:,} open and {CLOSED:,} closed requests into {database} ...",
          flush=True)
    started = time.perf_counter()
    load(app, args.database_url, env, args.seed)
    print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    return counts(engine)


def over_http(args: argparse.Namespace, env: dict[str, str], workers: Workers,
              measured: list[Page]) -> tuple[dict[str, Timings], str]:
    """The pages from gunicorn, and where the machine's CPU went meanwhile."""
    database = make_url(args.database_url).database or ""
    with Server("hotline:create_app()", workers, env, ready_path="/readyz") as server:
        browser = Browser(server.port)
        try:
            browser.sign_in(SUPERVISOR, PASSWORD)
            before, client_before = CpuSnapshot.take(server, database), time.process_time()
            results = measure(measured, lambda p: browser.request("GET", p.path),
                              args.rounds, args.warmup)
            after, client = CpuSnapshot.take(server, database), time.process_time()
        finally:
            browser.close()
    window = (after.at - before.at) * (os.cpu_count() or 1)
    spent = {"gunicorn": after.server - before.server,
             "PostgreSQL+Redis": after.services_since(before),
             "this client": client - client_before}
    unrelated = max(0.0, after.machine - before.machine - sum(spent.values()))
    note = "CPU during the HTTP run (share of the machine): " + ", ".join(
        f"{name} {seconds / window:.0%}" for name, seconds in
        [*spent.items(), ("unrelated", unrelated)])
    if unrelated / window > 0.10:
        note += ("\nWARNING: something else used the machine meanwhile: the figures are "
                 "pessimistic; run again on a quiet machine.")
    return results, note


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    env = bench_env(args)
    workers = Workers()
    require_scratch(args.database_url, args.redis_url)
    ensure_database(args.database_url)
    flush_redis(args.redis_url)
    app = create_app({k[len("HOTLINE_"):]: v for k, v in env.items()
                      if k.startswith("HOTLINE_")})
    with app.app_context():
        engine = db.engine
    found = prepare(args, env, app, engine)
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(CallbackRequest.created_at))).scalar_one()
    measured = pages(app)
    sql = SqlCounter(engine)
    http_results: dict[str, Timings] = {}
    described = workers.describe(env)
    if not args.no_http:
        print(f"http: {described} hotline:create_app() ...", flush=True)
        http_results, cpu_note = over_http(args, env, workers, measured)
    print("in-process: Flask test client ...", flush=True)
    local = TestBrowser(app)
    local.sign_in(SUPERVISOR, PASSWORD)
    local_results = measure(measured, lambda p: local.request("GET", p.path), args.rounds,
                            args.warmup, sql)
    print("services alone ...", flush=True)
    calls = [(p.name, p.service) for p in measured if p.service is not None] + service_only()
    service_results = time_calls(calls, app, args.rounds, args.warmup, sql)  # type: ignore

    print(f"\nQueue and statistics pages: {found[0]:,} open, {found[1]:,} closed requests, "
          f"{found[2]:,} timeline events; newest request {newest:%Y-%m-%d %H:%M} UTC\n"
          f"{args.rounds} requests per page after {args.warmup} warm-up rounds, one at a time; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"PostgreSQL {'.'.join(map(str, engine.dialect.server_version_info or ()))}")
    if http_results:
        print(f"\nHTTP, gunicorn ({described}):\n")
        print(table(rows_for(http_results, "/staff/account", False)))
        print(cpu_note)
    print("\nIn process (Flask test client), with the SQL each page runs:\n")
    print(table(rows_for(local_results, "/staff/account", True)))
    print("\nService functions alone:\n")
    print(table(rows_for(service_results, None, True)))

    judged = http_results or local_results
    checks = [(f"{p.name}: p95 < {TARGET_P95 * 1000:.0f} ms", ms(judged[p.name].p(95)),
               judged[p.name].p(95) < TARGET_P95) for p in measured if p.target]
    print(f"\nTargets ({'HTTP' if http_results else 'in process'}):\n")
    print(table([["target", "measured", ""], *[[t, v, verdict(ok)] for t, v, ok in checks]]))
    if args.explain or args.explain_only:
        words = [w for w in args.explain_only.split(",") if w]
        explain(app, local, [p for p in measured
                             if not words or any(w in p.name for w in words)], sql)
    errors = [e for results in (http_results, local_results)
              for t in results.values() for e in t.errors]
    if errors:
        shout(["ERRORS: the figures above do not count", *errors])
        return 1
    return 0 if all(ok for _, _, ok in checks) else 2


if __name__ == "__main__":
    sys.exit(main())
