"""Deadlines for blocking work: a request that waits too long on the database is cut loose.

Server-side limits (``statement_timeout``) do nothing when the database host hangs,
or a proxy in between accepts bytes and never answers: psycopg then waits in
``recv()`` for ever and the thread is lost to the service. A deadline remembers the
sockets of the database connections its thread checked out, and one watchdog thread
per process shuts them down when time is up: the blocked call fails at once, the
pool discards the broken connection, and the request still answers.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from hotline.errors import HotlineError


class DeadlineExceeded(HotlineError):
    """The work's time is up; raised instead of starting another statement."""


class Deadline:
    """One piece of work's time limit and the database sockets it is waiting on."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.expires = self.started + seconds
        self.expired = False
        self.done = False
        self._fds: set[int] = set()
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def watch(self, fd: int) -> None:
        with self._lock:
            self._fds.add(fd)

    def unwatch(self, fd: int) -> None:
        with self._lock:
            self._fds.discard(fd)

    def check(self) -> None:
        if self.expired:
            raise DeadlineExceeded(f"deadline passed after {self.elapsed():.1f} s")

    def fire(self) -> None:
        """Time is up: every socket still checked out fails its waiting call now."""
        with self._lock:
            if self.done:
                return
            self.expired = True
            for fd in self._fds:
                try:
                    sock = socket.socket(fileno=os.dup(fd))
                except OSError:
                    continue
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                finally:
                    sock.close()

    def finish(self) -> None:
        with self._lock:
            self.done = True
            self._fds.clear()


class _Watchdog:
    """One thread per process that fires deadlines in time order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._pid = 0

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked worker: no thread yet
                self._pid = os.getpid()
                self._heap.clear()
                threading.Thread(target=self._run, name="hotline-deadlines", daemon=True).start()
            heapq.heappush(self._heap, (deadline.expires, next(self._seq), deadline))
            if self._heap[0][2] is deadline:  # sooner than what the thread waits for
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # finished in time: nothing to do
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is None or wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, due = heapq.heappop(self._heap)
            due.fire()


_watchdog = _Watchdog()
_watched: weakref.WeakSet[Engine] = weakref.WeakSet()
_local = threading.local()


def current() -> Deadline | None:
    return getattr(_local, "deadline", None)


def start(seconds: float) -> Deadline:
    """Begin a deadline for this thread's work (ended by ``finish``)."""
    deadline = Deadline(seconds)
    _local.deadline = deadline
    _watchdog.add(deadline)
    return deadline


def finish(deadline: Deadline | None) -> None:
    deadline = deadline or current()
    if deadline is not None:
        deadline.finish()
    if current() is deadline:
        _local.deadline = None


@contextmanager
def limit(seconds: float) -> Iterator[Deadline]:
    """``with limit(4): ...``; the previous deadline of the thread comes back after."""
    outer = current()
    deadline = start(seconds)
    try:
        yield deadline
    finally:
        deadline.finish()
        _local.deadline = outer


def _socket_of(dbapi_connection: Any) -> int | None:
    try:
        return dbapi_connection.pgconn.socket  # psycopg 3; SQLite has no socket
    except Exception:
        return None


def watch_engine(engine: Engine) -> None:
    """Let deadlines see this engine's connections, and ping each one as it is checked out.

    The ping replaces the pool's ``pool_pre_ping``, which runs before any checkout hook
    and so before the deadline knows the socket: a ping to a hung server would wait
    for ever. A failed ping makes the pool retry with a fresh connection.
    """
    if engine in _watched:
        return
    _watched.add(engine)
    dialect = engine.dialect

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        _checkout(dialect, dbapi_connection, record)

    event.listen(engine, "connect", _connect)
    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", _checkin)
    # A connection closed while checked out frees its descriptor for another socket:
    # forget it first, so a deadline never shuts down a socket that is not its own.
    event.listen(engine, "invalidate", _forget)
    event.listen(engine, "soft_invalidate", _forget)
    event.listen(engine, "close", _checkin)
    event.listen(engine, "detach", _checkin)
    event.listen(engine, "before_cursor_execute", _before_execute)


def _checkout(dialect: Any, dbapi_connection: Any, record: Any) -> None:
    deadline = current()
    if deadline is not None:
        deadline.check()
        fd = _socket_of(dbapi_connection)
        if fd is not None:
            deadline.watch(fd)
            record.info["hotline.deadline"] = (deadline, fd)
    if record.info.pop("hotline.fresh", False):
        return  # connected a moment ago: no need to ask whether it is alive
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:
        _checkin(dbapi_connection, record)
        if deadline is not None:
            deadline.check()
        raise DisconnectionError(f"connection failed its ping: {type(exc).__name__}") from exc


def _connect(dbapi_connection: Any, record: Any) -> None:
    record.info["hotline.fresh"] = True


def _checkin(dbapi_connection: Any, record: Any) -> None:
    held = record.info.pop("hotline.deadline", None)
    if held is not None:
        held[0].unwatch(held[1])


def _forget(dbapi_connection: Any, record: Any, exception: BaseException | None) -> None:
    _checkin(dbapi_connection, record)


def _before_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                    executemany: bool) -> None:
    deadline = current()
    if deadline is not None:
        deadline.check()
