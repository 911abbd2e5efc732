"""One rate limit in SMS parts per second, shared by every worker through Redis.

Each sender reserves its parts on one shared timeline (a "theoretical arrival
time" kept in Redis, advanced atomically by a Lua script using Redis's own
clock, so workers on different machines agree) and sleeps until its turn. It
never refuses: it only says how long to wait, so a batch is delayed, never lost.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "hotline:outbox:rate"
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local after = tat + tonumber(ARGV[1]) / tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(after), 'PX', math.ceil((after - now) * 1000) + 1000)
return tostring(tat - now)
"""
_local_lock = threading.Lock()
_local_tat = [0.0]


def reserve(parts: int, rate: float) -> float:
    """Seconds to wait before sending ``parts`` SMS parts at ``rate`` parts per second."""
    if rate <= 0 or parts <= 0:
        return 0.0
    client = current_app.extensions.get("hotline.redis")
    if client is not None:
        try:
            return max(0.0, float(client.eval(RESERVE, 1, KEY, parts, rate)))
        except RedisError:
            log.warning("rate limit not shared (Redis unavailable); this process keeps its own")
    with _local_lock:
        now = time.monotonic()
        start = max(_local_tat[0], now)
        _local_tat[0] = start + parts / rate
        return start - now


def wait(parts: int) -> float:
    """Sleep until these parts may go under the configured limit; the seconds slept."""
    pause = reserve(parts, float(current_app.config["OUTBOX"]["rate_parts_per_second"]))
    if pause > 0:
        time.sleep(pause)
    return pause
