"""Background jobs by dotted name: rq when Redis is configured, inline otherwise.

Services enqueue ``"hotline.jobs.name"`` with ids, never objects, so they never
import the jobs module and a job always reads fresh rows.
"""

from __future__ import annotations

import importlib
import logging
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
                retries: int = 0, **kwargs: Any) -> None:
        if self.connection is None:
            module, name = func.rsplit(".", 1)
            getattr(importlib.import_module(module), name)(*args, **kwargs)
            return
        retry = Retry(max=retries, interval=[10, 60, 300][:retries] or 0) if retries else None
        self.queues[queue].enqueue(func, *args, retry=retry, **kwargs)


def jobs() -> JobQueue:
    return current_app.extensions["hotline.jobs"]
