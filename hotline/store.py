"""Short-lived key-value state (USSD sessions, reply cache, locks): Redis, or memory.

The in-memory store exists only so ``make run`` works with nothing installed;
it is per process, so production refuses to start without Redis.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, cast

import redis


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
