"""Work that could not be stored yet (a missed call while PostgreSQL is down), kept until
the sweeper can store it.

A missed call is a caller asking to be called back, perhaps in danger: it must not be
lost because the database was away for a minute. Items go to a Redis list; when Redis
is down too, to an append-only JSON-lines file on local disk (``spool_dir``), written
under an exclusive lock and synced before the gateway is answered. Storing an item
again is harmless (missed calls are keyed by the gateway's session id), so a drain
that stops half-way simply starts again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]


class SpoolError(HotlineError):
    """Neither Redis nor the local disk took the item."""


class Spool:
    """One named spool (``voice``): a Redis list, with a file beside it as last resort."""

    def __init__(self, name: str, client: Redis | None, directory: Path) -> None:
        self.name, self.client, self.directory = name, client, directory
        self.key = f"hotline:spool:{name}"
        self.path = directory / f"{name}.jsonl"
        self.draining = directory / f"{name}.draining.jsonl"

    def put(self, item: dict[str, Any], label: str) -> str:
        """Keep ``item``; the spool key to log (where it is and which one), never its content."""
        line = json.dumps(item, separators=(",", ":"))
        if self.client is not None:
            try:
                self.client.rpush(self.key, line)
                return f"redis:{self.key}:{label}"
            except RedisError as exc:
                log.warning("spool %s: Redis unavailable (%s), writing to %s", self.name,
                            type(exc).__name__, self.path)
        try:
            self._append([line])
        except OSError as exc:
            raise SpoolError(f"spool {self.name}: nowhere to keep the item") from exc
        return f"file:{self.path}:{label}"

    def _append(self, lines: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        while True:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = None
                if current != os.fstat(fd).st_ino:
                    continue  # a drain moved the file away while we waited: open the new one
                os.write(fd, "".join(f"{line}\n" for line in lines).encode())
                os.fsync(fd)
                return
            finally:
                os.close(fd)

    def pending(self) -> int:
        count = 0
        if self.client is not None:
            try:
                count += int(self.client.llen(self.key))
            except RedisError:
                pass
        for path in (self.path, self.draining):
            if path.exists():
                count += sum(1 for line in path.read_text().splitlines() if line.strip())
        return count

    def drain(self, handle: Handler, batch: int = 500) -> tuple[int, int]:
        """Store what waits, oldest first; (stored, still waiting). Stops at the first failure."""
        stored, failed = self._drain_file(handle)
        if self.client is not None and not failed:
            try:
                stored += self._drain_redis(handle, batch)
            except RedisError as exc:
                log.warning("spool %s: Redis unavailable (%s)", self.name, type(exc).__name__)
        return stored, self.pending()

    def _drain_redis(self, handle: Handler, batch: int) -> int:
        assert self.client is not None
        items = self.client.lrange(self.key, 0, batch - 1)
        done = 0
        for raw in items:
            if not self._handled(handle, raw):
                break
            done += 1
        if done:
            self.client.ltrim(self.key, done, -1)  # new items were pushed on the right
        return done

    def _handled(self, handle: Handler, raw: str | bytes) -> bool:
        """False when the item could not be stored yet (the database is still away)."""
        try:
            item = json.loads(raw)
        except ValueError:
            log.error("spool %s: an unreadable item was dropped", self.name)
            return True
        try:
            handle(item)
        except Exception:
            log.warning("spool %s: an item could not be stored yet", self.name, exc_info=True)
            return False
        return True

    def _drain_file(self, handle: Handler) -> tuple[int, bool]:
        if not self.directory.exists():
            return 0, False
        lock = os.open(self.directory / f"{self.name}.drain-lock", os.O_WRONLY | os.O_CREAT,
                       0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0, False  # another sweeper is at it
            if not self.draining.exists() and self.path.exists():
                fd = os.open(self.path, os.O_WRONLY)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # no writer half-way through a line
                    os.rename(self.path, self.draining)
                finally:
                    os.close(fd)
            if not self.draining.exists():
                return 0, False
            lines = [ln for ln in self.draining.read_text().splitlines() if ln.strip()]
            done = 0
            failed = False
            for line in lines:
                if not self._handled(handle, line):
                    failed = True
                    break
                done += 1
            if lines[done:]:
                self._append(lines[done:])
            self.draining.unlink()
            return done, failed
        finally:
            os.close(lock)
