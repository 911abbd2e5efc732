"""``/healthz`` (the process answers) and ``/readyz`` (its database and Redis answer)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from hotline.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    down = []
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        log.warning("readiness: database down", exc_info=True)
        down.append("database")
    try:
        current_app.extensions["hotline.store"].ping()
    except Exception:
        log.warning("readiness: redis down", exc_info=True)
        down.append("redis")
    if down:
        return jsonify(status="unavailable", down=down), 503
    return jsonify(status="ok"), 200
