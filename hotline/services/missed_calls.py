"""Missed calls: a caller rings the MRRC number, we reject (free for them) and call back.

Africa's Talking notifies a call twice: ``isActive=1`` while it rings, and
``isActive=0`` with duration and cost when it is over (perhaps not at all for a
rejected call). Both are keyed by the gateway's ``sessionId`` so a repeated
notification changes nothing; whichever arrives first records the ring, so
a lost first notification still leaves a callback request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline.extensions import db
from hotline.models import VoiceCall
from hotline.privacy import mask_phone
from hotline.services import callback_policy, caller_requests, contacts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceNotice:
    """One voice notification, already checked and cleaned at the edge."""

    session_id: str
    active: bool
    direction: str  # Inbound | Outbound | "" (not given)
    caller: str | None  # E.164, or None when not given
    destination: str = ""
    duration_seconds: int | None = None
    hangup_cause: str = ""
    session_state: str = ""
    amount: str = ""
    currency: str = ""

    @property
    def inbound(self) -> bool:
        return self.direction.lower() == "inbound"


@dataclass(frozen=True)
class NoticeResult:
    new_call: bool  # False: this sessionId was seen before
    request_ref: str | None  # the callback request the ring created or refreshed
    counted: bool  # the ring counted (not a repeat within the window)


def record(notice: VoiceNotice, now: datetime | None = None) -> NoticeResult:
    """Store the notification once and, for a new inbound call, create or refresh a request.

    Commits; a concurrent duplicate of the same ``sessionId`` is a no-op.
    """
    now = callback_policy.now_utc(now)
    call = db.session.scalars(select(VoiceCall).where(VoiceCall.session_id == notice.session_id)
                              .with_for_update()).one_or_none()
    if call is not None:
        if not notice.active and call.ended_at is None:
            _finish(call, notice, now)
            db.session.commit()
        else:
            db.session.rollback()
        return NoticeResult(False, None, False)
    contact = contacts.get_or_create(notice.caller) if notice.caller else None
    call = VoiceCall(session_id=notice.session_id, contact_id=contact.id if contact else None,
                     direction=notice.direction[:20], destination=notice.destination[:32],
                     received_at=now)
    if not notice.active:
        _finish(call, notice, now)
    ring = None
    if notice.inbound and notice.caller:
        ring = caller_requests.record_ring(notice.caller, now)
        call.request_id = ring.request_id
    try:
        with db.session.begin_nested():
            db.session.add(call)
        db.session.commit()
    except IntegrityError:  # the same notification, delivered twice at once
        db.session.rollback()
        return NoticeResult(False, None, False)
    if ring is not None:
        log.info("missed call from %s: request %s (%s)", mask_phone(notice.caller), ring.ref,
                 "new" if ring.created else ("counted" if ring.counted else "repeat"))
    return NoticeResult(True, ring.ref if ring else None, bool(ring and ring.counted))


def spool_item(notice: VoiceNotice, now: datetime | None = None) -> dict[str, object]:
    """The notice as JSON-able values, with the time it arrived (the ring's time)."""
    return {**asdict(notice), "received_at": callback_policy.now_utc(now).isoformat()}


def record_spooled(item: Mapping[str, object]) -> NoticeResult:
    """Store a notice that waited in the spool, as of the time it arrived."""
    fields = {f.name: item[f.name] for f in dataclass_fields(VoiceNotice) if f.name in item}
    received = datetime.fromisoformat(str(item["received_at"]))
    return record(VoiceNotice(**fields), now=received)  # type: ignore[arg-type]


def _finish(call: VoiceCall, notice: VoiceNotice, now: datetime) -> None:
    call.ended_at = now
    call.duration_seconds = notice.duration_seconds
    call.hangup_cause = notice.hangup_cause[:40]
    call.session_state = notice.session_state[:40]
    call.amount = notice.amount[:20]
    call.currency = notice.currency[:8]
