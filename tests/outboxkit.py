"""Helpers for outbox tests: an app sending through the real SDK to the fake server."""

from __future__ import annotations

from typing import Any

from flask import Flask

from hotline.extensions import db
from hotline.models import OutboxMessage
from hotline.services.outbox import queue_sms
from tests.fakeat import FakeAT

FAST = {"backoff_seconds": 0.2, "max_backoff_seconds": 1, "connect_timeout": 1,
        "read_timeout": 0.5, "rate_parts_per_second": 0}


def at_settings(fake: FakeAT, **outbox: Any) -> dict[str, Any]:
    """Settings that send to ``fake``: what HOTLINE_AT_* would say in production."""
    return {"AT_USERNAME": "hotline", "AT_API_KEY": fake.api_key, "AT_SENDER_ID": "MRRC",
            "AT_BASE_URL": fake.url, "OUTBOX": {**FAST, **outbox}}


def queue(n: int = 1, *, body: str = "Your request is received.", priority: str = "reply",
          first: int = 0, prefix: str = "t", **extra: Any) -> list[int]:
    """``n`` committed messages to ``n`` different numbers; their ids."""
    rows = [queue_sms(db.session, to=f"+2499{first + i:08d}", body=body, language="en",
                      priority=priority, kind="test", idempotency_key=f"{prefix}-{first + i}",
                      **extra) for i in range(n)]
    db.session.commit()
    return [row.id for row in rows]


def rows(app: Flask) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.query(OutboxMessage).order_by(OutboxMessage.id).all()


def statuses(app: Flask) -> list[str]:
    return [row.status for row in rows(app)]
