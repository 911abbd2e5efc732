"""Short-lived key-value state (USSD sessions, reply cache, locks): Redis, or memory.

The in-memory store exists only so ``make run`` works with nothing installed;
it is per process, so production refuses to start without Redis.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, cast

import redis

from hotline.logs import Every


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes, ttl: int) -> None: ...
    def add(self, key: str, value: bytes, ttl: int) -> bool: ...
    def delete(self, *keys: str) -> None: ...
    def ping(self) -> bool: ...


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def get(self, key: str) -> bytes | None:
        return cast("bytes | None", self.client.get(key))  # no decode_responses: bytes

    def set(self, key: str, value: bytes, ttl: int) -> None:
        self.client.set(key, value, ex=ttl)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        return bool(self.client.set(key, value, ex=ttl, nx=True))

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*keys)

    def ping(self) -> bool:
        return bool(self.client.ping())


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item and item[0] > time.monotonic():
                return item[1]
            self._data.pop(key, None)
            return None

    def set(self, key: str, value: bytes, ttl: int) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        with self._lock:
            item = self._data.get(key)
            if item and item[0] > time.monotonic():
                return False
            self._data[key] = (time.monotonic() + ttl, value)
            return True

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def ping(self) -> bool:
        return True


class GuardedStore:
    """The store as USSD uses it: an accelerator, never a requirement.

    A Redis error or timeout reads as "nothing stored" and a write is skipped, so the
    hop replays ``text`` from the database instead of failing. After a failure Redis
    is left alone for ``retry_seconds``, so a Redis that hangs costs one timeout, not
    one per hop; the degradation is logged once per interval with a count.
    """

    def __init__(self, store: Store, retry_seconds: float, every: Every) -> None:
        self.store, self.retry_seconds, self.every = store, retry_seconds, every
        self._down_until = 0.0

    def _degraded(self, exc: Exception | None) -> None:
        if exc is not None:
            self._down_until = time.monotonic() + self.retry_seconds
        self.every.warning("store", "Redis unavailable (%s): USSD sessions are rebuilt from "
                           "the database", type(exc).__name__ if exc else "skipped")

    def _usable(self) -> bool:
        if time.monotonic() < self._down_until:
            self._degraded(None)
            return False
        return True

    def get(self, key: str) -> bytes | None:
        if self._usable():
            try:
                return self.store.get(key)
            except redis.RedisError as exc:
                self._degraded(exc)
        return None

    def set(self, key: str, value: bytes, ttl: int) -> None:
        if self._usable():
            try:
                self.store.set(key, value, ttl)
            except redis.RedisError as exc:
                self._degraded(exc)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        """False when Redis is down: whoever asks must not assume it holds the key."""
        if self._usable():
            try:
                return self.store.add(key, value, ttl)
            except redis.RedisError as exc:
                self._degraded(exc)
        return False

    def delete(self, *keys: str) -> None:
        if self._usable():
            try:
                self.store.delete(*keys)
            except redis.RedisError as exc:
                self._degraded(exc)

    def ping(self) -> bool:
        return self.store.ping()
