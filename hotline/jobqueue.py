"""Background jobs by dotted name: rq when Redis is configured, inline otherwise.

Services enqueue ``"hotline.jobs.name"`` with ids, never objects, so they never
import the jobs module and a job always reads fresh rows.
"""

from __future__ import annotations

import importlib
import logging
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue, Retry

log = logging.getLogger(__name__)

QUEUES = ("replies", "default", "bulk")  # listened to in this order: replies before bulk


class JobQueue:
    def __init__(self, app: Flask, connection: Redis | None) -> None:
        self.connection = connection
        self.queues = {name: Queue(name, connection=connection) for name in QUEUES} \
            if connection is not None else {}
        app.extensions["hotline.jobs"] = self

    def enqueue(self, func: str, *args: Any, queue: str = "default",
                retries: int = 0, delay: timedelta | None = None, **kwargs: Any) -> None:
        """Run ``func`` on a worker; ``delay`` needs the worker's scheduler (``hotline worker``).

        Inline (no Redis) a delayed job is not run: whatever scheduled it must also
        be found by ``hotline sweep``, as outbox retries are.
        """
        if self.connection is None:
            if delay:
                log.info("no Redis: %s not scheduled in %s, left to the sweeper", func, delay)
                return
            module, name = func.rsplit(".", 1)
            getattr(importlib.import_module(module), name)(*args, **kwargs)
            return
        retry = Retry(max=retries, interval=[10, 60, 300][:retries] or 0) if retries else None
        if delay:
            self.queues[queue].enqueue_in(delay, func, *args, retry=retry, **kwargs)
        else:
            self.queues[queue].enqueue(func, *args, retry=retry, **kwargs)


def jobs() -> JobQueue:
    return current_app.extensions["hotline.jobs"]
