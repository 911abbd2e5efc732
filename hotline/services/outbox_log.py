"""What the outbox sent, as supervisors see it: numbers masked, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import OutboxMessage, stage_of
from hotline.privacy import mask_phone

STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "expired",
            "suppressed")
PAGE = 100


@dataclass(frozen=True)
class SentLine:
    id: int
    created_at: datetime
    kind: str
    to: str  # masked
    language: str
    encoding: str
    parts: int
    priority: str
    status: str
    attempts: int
    detail: str  # the gateway's last word or why it did not go
    body: str


def counts() -> dict[str, int]:
    """Messages per status: suppressed and failed ones are counted, not hidden."""
    return {status: n for status, n in db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))}


def recent(status: str | None = None, before: int | None = None,
           limit: int = PAGE) -> list[SentLine]:
    """A page of messages, newest first; ``before`` is the last id of the previous page."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.stage == stage_of(status),  # ix_outbox_messages_stage
                            OutboxMessage.status == status)
    if before:
        query = query.where(OutboxMessage.id < before)
    return [SentLine(r.id, r.created_at, r.kind, mask_phone(r.recipient), r.language,
                     r.encoding, r.parts, r.priority, r.status, r.attempts,
                     r.error or r.provider_status, r.body)
            for r in db.session.scalars(query)]
