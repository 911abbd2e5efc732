"""``/healthz`` (the process answers) and ``/readyz`` (its database and Redis answer in time).

``/healthz`` touches nothing outside the process, so a load balancer never kills a
healthy worker because PostgreSQL is slow. ``/readyz`` asks both services at once on
threads of its own and answers within ``[limits] ready_seconds`` whatever they do:
a service that has not answered by then is named as slow. A check still running
from an earlier probe is not started again, so probes cannot pile up on a hung service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import text

from hotline import deadline
from hotline.extensions import db

bp = Blueprint("health", __name__)

_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
_running: dict[tuple[int, str], Future[None]] = {}
_lock = threading.Lock()


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def _database(app: Flask, seconds: float) -> None:
    with app.app_context(), deadline.limit(seconds), db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _redis(app: Flask, seconds: float) -> None:
    app.extensions["hotline.store"].ping()


CHECKS: dict[str, Callable[[Flask, float], None]] = {"database": _database, "redis": _redis}


def _start(app: Flask, name: str, seconds: float) -> Future[None]:
    key = (id(app), name)
    with _lock:
        running = _running.get(key)
        if running is None or running.done():
            running = _running[key] = _checks.submit(CHECKS[name], app, seconds)
        return running


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    seconds = float(app.config["LIMITS"]["ready_seconds"])
    futures = {name: _start(app, name, seconds) for name in CHECKS}
    wait(futures.values(), timeout=seconds)
    problems: dict[str, str] = {}
    for name, future in futures.items():
        if not future.done():
            problems[name] = "slow"
        elif future.exception() is not None:
            problems[name] = "down"
            app.extensions["hotline.log_every"].warning(
                f"ready:{name}", "readiness: %s down: %s", name,
                type(future.exception()).__name__)
    if problems:
        return jsonify(status="unavailable", down=list(problems), detail=problems), 503
    return jsonify(status="ok"), 200
