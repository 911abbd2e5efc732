"""What every benchmark needs: a real gunicorn, real services, a light load generator, figures.

A benchmark compares the app with a baseline served by the same gunicorn settings in
the same run, so the figures say what the app costs rather than how fast this machine
is today. The load generator runs in its own process on asyncio with raw keep-alive
HTTP/1.1 connections, so that on a 2-core machine it takes little of the CPU the server
needs; its share is measured and printed with every run. Loopback only.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from multiprocessing.connection import Connection as PipeEnd
from pathlib import Path
from typing import Any

import psutil
import redis
import sqlalchemy as sa

from tests.pgdb import ensure_database  # noqa: F401  (part of this module's API)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv this runs in: gunicorn and hotline live there
HOST = "127.0.0.1"
MB = 1024 * 1024


# --- services ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def base_env(**settings: str) -> dict[str, str]:
    """This environment without any HOTLINE_* of the caller's shell, plus ``settings``.

    PYTHONPATH makes subprocesses import the ``hotline`` of this tree, whichever tree
    the venv was installed from.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({f"HOTLINE_{k.upper()}": v for k, v in settings.items()})
    return env


def migrate(env: dict[str, str]) -> None:
    """The project's own migrations, through the same command production runs."""
    done = subprocess.run([str(BIN / "hotline"), "db", "upgrade"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"hotline db upgrade failed:\n{done.stdout}{done.stderr}")


def require_scratch(database_url: str, redis_url: str) -> None:
    """A benchmark wipes its database and Redis db: refuse anything not obviously scratch."""
    name = sa.engine.make_url(database_url).database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to wipe database {name!r}: a benchmark database's name "
                         "contains 'bench'")
    db_index = redis.connection.parse_url(redis_url).get("db", 0)
    if not db_index:
        raise SystemExit("refusing to flush Redis db 0: give the benchmark its own db number")


def reset_schema(url: str) -> None:
    """Start every run from an empty schema: runs compare, and a migration renamed in the
    working tree since the last run cannot leave the database at an unknown revision."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def empty_tables(url: str) -> None:
    """Between rounds: the same callers may call as new callers again."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        names = [n for n in sa.inspect(conn).get_table_names() if n != "alembic_version"]
        if names:  # the audit log refuses TRUNCATE (a trigger) unless in replica mode
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    engine.dispose()


def flush_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


# --- gunicorn ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Workers:
    """gunicorn settings: production's config file, plus command-line overrides if asked.

    A benchmark serves the app and its baseline with one value of this.
    """

    config: Path = ROOT / "config" / "gunicorn.conf.py"
    overrides: tuple[str, ...] = ()  # e.g. ("--threads", "8"): the command line wins

    def argv(self) -> list[str]:
        return ["-c", str(self.config), *self.overrides]

    def effective(self, env: dict[str, str]) -> dict[str, str]:
        """The settings gunicorn resolves from all of it, as it prints them."""
        done = subprocess.run([str(BIN / "gunicorn"), *self.argv(), "--print-config",
                               "tests.bench.bare_app:app"], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True)
        found = {}
        for line in done.stdout.splitlines():
            name, sep, value = line.partition("=")
            if sep:
                found[name.strip()] = value.strip()
        return found

    def describe(self, env: dict[str, str]) -> str:
        conf = self.effective(env)
        shown = ("worker_class", "workers", "threads", "keepalive", "timeout", "max_requests",
                 "max_requests_jitter", "preload_app")
        return (f"gunicorn -c {self.config.relative_to(ROOT)} {' '.join(self.overrides)}"
                .rstrip() + ": " + ", ".join(f"{k}={conf.get(k, '?')}" for k in shown))


class Server:
    """One gunicorn on a free loopback port, started and stopped by the benchmark."""

    def __init__(self, app: str, workers: Workers, env: dict[str, str],
                 ready_path: str = "/healthz") -> None:
        self.app = app
        self.workers = workers
        self.count = int(workers.effective(env)["workers"])
        self.env = env
        self.ready_path = ready_path
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log",
                                               delete=False)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), *self.workers.argv(), "--bind", f"{HOST}:{self.port}",
             "--chdir", str(ROOT), "--log-level", "warning", self.app],
            env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        url = f"http://{HOST}:{self.port}{self.ready_path}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn for {self.app} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback)
                    if resp.status == 200 and len(self.worker_processes()) == self.count:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn for {self.app} not ready in {timeout:.0f}s:\n"
                           f"{self.log_tail()}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def worker_processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []

    def processes(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return [psutil.Process(self.proc.pid), *self.worker_processes()]
        except psutil.NoSuchProcess:
            return []

    def connections_per_worker(self) -> list[int]:
        """Client connections each worker holds now: a keep-alive connection stays with
        the worker that accepted it, so an uneven spread leaves a core idle."""
        counts = []
        for proc in self.worker_processes():
            try:
                conns = proc.net_connections(kind="tcp")
            except psutil.Error:
                continue
            counts.append(sum(1 for c in conns if c.laddr and c.laddr.port == self.port
                              and c.status == psutil.CONN_ESTABLISHED))
        return counts

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class RssSampler(threading.Thread):
    """Peak resident memory of each gunicorn worker, sampled while the load runs."""

    def __init__(self, server: Server, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.every = every
        self.peaks: dict[int, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.every)

    def sample(self) -> None:
        for proc in self.server.worker_processes():
            try:
                rss = proc.memory_info().rss
            except psutil.Error:
                continue
            self.peaks[proc.pid] = max(rss, self.peaks.get(proc.pid, 0))

    def finish(self) -> dict[int, int]:
        self._done.set()
        self.join()
        self.sample()
        return self.peaks


def service_processes(database: str) -> list[psutil.Process]:
    """The PostgreSQL backends serving ``database`` and the Redis server: what the app waits on.

    A backend's process title names its database (``postgres: ... user db host state``),
    so other people's connections to other databases are not counted.
    """
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(proc.info["cmdline"] or ())
        if proc.info["name"] == "redis-server" or (title.startswith("postgres:")
                                                   and f" {database} " in f"{title} "):
            found.append(proc)
    return found


def _cpu(proc: psutil.Process, children: bool = False) -> float:
    try:
        cpu = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return cpu.user + cpu.system + (cpu.children_user + cpu.children_system if children else 0)


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine, by gunicorn, by the services."""

    at: float
    machine: float
    server: float
    services: dict[int, float]

    @classmethod
    def take(cls, server: Server, database: str) -> CpuSnapshot:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0) + getattr(times, "steal", 0.0)
        # the master's children times hold the workers max_requests has already replaced
        used = sum(_cpu(proc, children=proc.pid == server.pid) for proc in server.processes())
        return cls(time.monotonic(), sum(times) - idle, used,
                   {proc.pid: _cpu(proc) for proc in service_processes(database)})

    def services_since(self, before: CpuSnapshot) -> float:
        return sum(cpu - before.services.get(pid, 0.0) for pid, cpu in self.services.items())


# --- load ----------------------------------------------------------------------------------

Check = Callable[[int, bytes], str | None]
BUSY = "busy"
"""What a check returns for a right answer that turns the user away ("busy, dial again"):
counted apart, neither a good reply nor an error."""


@dataclass(frozen=True)
class Exchange:
    """One request a simulated user sends, and how to judge the answer (None: good)."""

    method: str
    target: str
    body: bytes
    check: Check
    content_type: str = "application/x-www-form-urlencoded"
    starts_visit: bool = False


Script = Callable[[Any, int, int], Iterator[Exchange]]
"""``script(data, user_index, seed)``: the endless exchanges of one simulated user."""


@dataclass(frozen=True)
class LoadPlan:
    """Everything the load process needs, picklable: the script is named, not passed."""

    script: str  # "package.module:function", called as function(data, user_index, seed)
    users: int
    warmup: float
    duration: float
    data: Any = None  # prepared by the benchmark, e.g. the paths its users walk
    seed: int = 1
    think: float = 0.0  # mean pause of a user between exchanges; 0: as fast as answered
    fresh_connections: bool = False  # a new connection per exchange, as nginx's proxy_pass
    # A keep-alive connection stays with the gunicorn worker that accepted it, and a burst
    # of new connections mostly lands on one worker: a core then idles and the figures
    # swing from run to run. Renewing each connection now and then lets the kernel spread
    # them again, busy workers accepting fewer.
    renew_after: int = 50
    port: int = 0  # set by run_load


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, measured hops only
    errors: dict[str, int] = field(default_factory=dict)
    error_examples: list[str] = field(default_factory=list)
    busy: int = 0  # answers turned away (checks returning BUSY), measured window only
    visits: int = 0
    reconnects: int = 0
    warmup_hops: int = 0
    window: float = 0.0
    client_cpu: float = 0.0  # seconds of CPU the load process used in the window

    @property
    def hops(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def rate(self) -> float:
        return self.hops / self.window if self.window else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: a value that was really measured, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class HttpError(Exception):
    pass


class Connection:
    """A keep-alive HTTP/1.1 connection: just enough protocol for a gunicorn on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, exchange: Exchange, close: bool = False) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        closing = "Connection: close\r\n" if close else ""
        head = (f"{exchange.method} {exchange.target} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Content-Type: {exchange.content_type}\r\n"
                f"Content-Length: {len(exchange.body)}\r\n{closing}\r\n").encode("ascii")
        self.writer.write(head + exchange.body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = raw.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"bad status line {status_line[:60]!r}")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            raise HttpError("chunked responses are not expected here")
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(parts[1]), body


def _load_script(name: str) -> Script:
    module, _, func = name.partition(":")
    return getattr(importlib.import_module(module), func)


async def _user(plan: LoadPlan, exchanges: Iterator[Exchange], index: int,
                result: LoadResult, measure_from: float, stop_at: float) -> None:
    conn = Connection(plan.port)
    clock = time.monotonic
    pauses = random.Random(plan.seed * 104729 + index)
    try:
        for sent, exchange in enumerate(exchanges, 1):
            if plan.think:
                await asyncio.sleep(plan.think * pauses.uniform(0.5, 1.5))
            if clock() >= stop_at:
                return
            started = clock()
            problem: str | None
            try:
                try:
                    status, body = await conn.send(exchange, plan.fresh_connections)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                        raise
                    conn.close()  # the server closed an idle keep-alive connection: once more
                    result.reconnects += 1
                    status, body = await conn.send(exchange, plan.fresh_connections)
                problem = exchange.check(status, body)
                if plan.fresh_connections or sent % plan.renew_after == 0:
                    conn.close()
            except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
                conn.close()
                problem = f"transport: {type(exc).__name__}"
                status, body = 0, str(exc).encode()
            finished = clock()
            turned_away = problem == BUSY
            if turned_away:
                problem = None
            if problem is not None:
                result.errors[problem] = result.errors.get(problem, 0) + 1
                if len(result.error_examples) < 5:
                    result.error_examples.append(
                        f"{problem}: {exchange.body[:200]!r} -> {status} {body[:200]!r}")
            if started < measure_from:
                result.warmup_hops += 1
            elif finished <= stop_at:
                result.latencies.append(finished - started)
                result.visits += exchange.starts_visit
                result.busy += turned_away
    finally:
        conn.close()


async def _drive(plan: LoadPlan, ready: Callable[[float], None]) -> LoadResult:
    script = _load_script(plan.script)
    users = [script(plan.data, i, plan.seed) for i in range(plan.users)]
    result = LoadResult(window=plan.duration)
    measure_from = time.monotonic() + plan.warmup
    stop_at = measure_from + plan.duration
    ready(time.time() + plan.warmup)
    cpu_task = asyncio.create_task(_cpu_at(measure_from))
    await asyncio.gather(*(_user(plan, user, i, result, measure_from, stop_at)
                           for i, user in enumerate(users)))
    result.client_cpu = time.process_time() - await cpu_task
    return result


async def _cpu_at(moment: float) -> float:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))
    return time.process_time()


def _load_process(plan: LoadPlan, pipe: PipeEnd) -> None:
    """Entry point of the load process: says when its measured window opens, then reports."""
    try:
        pipe.send(("result", asyncio.run(_drive(plan, lambda at: pipe.send(("ready", at))))))
    except BaseException as exc:  # the parent must hear about it rather than wait forever
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        pipe.close()


@dataclass
class Measured:
    """A load run against one server, with what the server and the machine spent on it."""

    name: str
    load: LoadResult
    rss_peaks: dict[int, int]
    server_cpu: float  # seconds, all gunicorn processes, measured window only
    services_cpu: float  # seconds, the benchmark database's backends and Redis
    machine_cpu: float  # seconds of busy CPU on the whole machine, measured window only
    window: float
    connections: list[tuple[int, ...]] = field(default_factory=list)  # per worker, per round
    rates: list[float] = field(default_factory=list)  # per round

    @property
    def unrelated_cpu(self) -> float:
        """What something else on the machine used meanwhile: the figures suffer from it."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.services_cpu
                   - self.load.client_cpu)

    def share(self, seconds: float) -> float:
        """CPU seconds as a share of the machine (1.0 = every core busy all the window)."""
        return seconds / (self.window * (os.cpu_count() or 1))

    @property
    def peak_rss(self) -> int:
        return max(self.rss_peaks.values(), default=0)


def combine(runs: Sequence[Measured]) -> Measured:
    """Rounds of one server pooled: hops over total time, every latency, every error."""
    load = LoadResult()
    for m in runs:
        load.latencies += m.load.latencies
        for problem, count in m.load.errors.items():
            load.errors[problem] = load.errors.get(problem, 0) + count
        load.error_examples += m.load.error_examples[:5 - len(load.error_examples)]
        load.visits += m.load.visits
        load.busy += m.load.busy
        load.reconnects += m.load.reconnects
        load.warmup_hops += m.load.warmup_hops
        load.window += m.load.window
        load.client_cpu += m.load.client_cpu
    peaks: dict[int, int] = {}
    for m in runs:
        peaks.update(m.rss_peaks)
    return Measured(runs[0].name, load, peaks, sum(m.server_cpu for m in runs),
                    sum(m.services_cpu for m in runs), sum(m.machine_cpu for m in runs),
                    sum(m.window for m in runs), [c for m in runs for c in m.connections],
                    [r for m in runs for r in m.rates])


def run_load(name: str, server: Server, plan: LoadPlan, database: str = "") -> Measured:
    """Run ``plan`` from a separate process against ``server``; sample memory and CPU."""
    plan = replace(plan, port=server.port)
    context = get_context("spawn")
    parent, child = context.Pipe()
    proc = context.Process(target=_load_process, args=(plan, child), daemon=True)
    sampler = RssSampler(server)
    sampler.start()
    proc.start()
    child.close()
    try:
        kind, value = _receive(parent, 120)
        time.sleep(max(0.0, value - time.time()))
        before = CpuSnapshot.take(server, database)
        time.sleep(plan.duration / 2)
        connections = server.connections_per_worker()
        time.sleep(max(0.0, plan.duration - (time.monotonic() - before.at)))
        after = CpuSnapshot.take(server, database)
        kind, value = _receive(parent, 60)
    finally:
        peaks = sampler.finish()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
    return Measured(name, value, peaks, after.server - before.server,
                    after.services_since(before), after.machine - before.machine,
                    after.at - before.at, [tuple(connections)], [value.rate()])


def _receive(pipe: PipeEnd, timeout: float) -> tuple[str, Any]:
    if not pipe.poll(timeout):
        raise RuntimeError(f"the load process said nothing for {timeout:.0f}s")
    kind, value = pipe.recv()
    if kind == "failed":
        raise RuntimeError(f"the load process failed: {value}")
    return kind, value


# --- figures -------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def figures(runs: Sequence[Measured], unit: str = "hops") -> str:
    """One row per run: rate, latency, volume, errors, where the CPU went, memory."""
    rows = [["server", f"{unit}/s", "p50", "p99", "max", unit, "visits", "errors",
             "client CPU", "gunicorn CPU", "DB+Redis CPU", "unrelated CPU", "peak RSS/worker"]]
    for m in runs:
        load = m.load
        rows.append([m.name, f"{load.rate():.0f}", ms(load.percentile(50)),
                     ms(load.percentile(99)), ms(max(load.latencies, default=math.nan)),
                     str(load.hops), str(load.visits), str(load.error_count),
                     f"{m.share(load.client_cpu):.0%}", f"{m.share(m.server_cpu):.0%}",
                     f"{m.share(m.services_cpu):.0%}", f"{m.share(m.unrelated_cpu):.0%}",
                     f"{m.peak_rss / MB:.0f} MB"])
    return table(rows) + ("\n(CPU: share of the whole machine during the measured window; "
                          "client = the load generator; unrelated = anything else running)")


def busy_machine(runs: Sequence[Measured], limit: float = 0.10) -> list[str]:
    """A warning when other work shared the machine: such figures are pessimistic."""
    busy = [m for m in runs if m.share(m.unrelated_cpu) > limit]
    if not busy:
        return []
    return ["Something else used the machine during " + ", ".join(
        f"{m.name} ({m.share(m.unrelated_cpu):.0%} of it)" for m in busy) + ":",
        "the figures are pessimistic; run again on a quiet machine."]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def shout(lines: Sequence[str]) -> None:
    """Errors must not hide under a table of good-looking numbers."""
    bar = "!" * 72
    print(bar, *lines, bar, sep="\n", file=sys.stdout)
