"""``POST /webhooks/at/voice``: a missed call becomes a callback request.

A ringing inbound call (``isActive=1``) is answered with ``<Reject/>``, which
costs the caller nothing through the gateway, and recorded as a request; the
final notification (``isActive=0``) is stored once. The gateway writes absent
values as the literal string ``"None"``; those count as empty. When the database
is down or slow, the notification is spooled (``hotline.spool``) and stored by the
sweeper later: a missed call is never dropped.
"""

from __future__ import annotations

import logging

from flask import Response, current_app
from sqlalchemy.exc import SQLAlchemyError

from hotline.deadline import DeadlineExceeded
from hotline.extensions import db
from hotline.phones import to_e164
from hotline.privacy import mask_phone
from hotline.services.missed_calls import VoiceNotice, record, spool_item
from hotline.spool import SpoolError
from hotline.webhooks import bp, form_fields, plain

log = logging.getLogger(__name__)

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
REJECT = f"{XML_HEAD}<Response><Reject/></Response>"
NOTHING = f"{XML_HEAD}<Response/>"
MAX_SESSION_ID = 100


def _value(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    return "" if value == "None" else value


def _xml(body: str) -> Response:
    return Response(body, 200, mimetype="application/xml")


@bp.post("/voice")
def voice() -> Response:
    fields = form_fields()
    active = _value(fields, "isActive")
    session_id = _value(fields, "sessionId")
    direction = _value(fields, "direction")
    raw_caller = _value(fields, "callerNumber")
    if active not in ("0", "1"):
        return plain("bad request: isActive must be 0 or 1\n", 400)
    if not session_id or len(session_id) > MAX_SESSION_ID or not session_id.isprintable():
        return plain("bad request: sessionId missing or invalid\n", 400)
    if active == "1" and direction.lower() not in ("inbound", "outbound"):
        return plain("bad request: direction must be Inbound or Outbound\n", 400)
    caller = to_e164(raw_caller, current_app.config["DEFAULT_REGION"]) \
        if raw_caller else None
    if (raw_caller or active == "1") and caller is None:
        return plain("bad request: callerNumber missing or not a valid phone number\n", 400)
    duration = _value(fields, "durationInSeconds")
    notice = VoiceNotice(
        session_id=session_id, active=active == "1", direction=direction[:20], caller=caller,
        destination=_value(fields, "destinationNumber")[:32],
        duration_seconds=int(duration) if duration.isascii() and duration.isdigit()
        and len(duration) < 10 else None,
        hangup_cause=_value(fields, "hangupCause")[:40],
        session_state=_value(fields, "callSessionState")[:40],
        amount=_value(fields, "amount")[:20], currency=_value(fields, "currencyCode")[:8])
    try:
        record(notice)
    except (SQLAlchemyError, DeadlineExceeded) as exc:
        db.session.rollback()
        try:  # the database is down or slow: keep the call for the sweeper, never drop it
            key = current_app.extensions["hotline.spool"].put(spool_item(notice), session_id[:40])
        except SpoolError:
            log.exception("voice notification from %s LOST: database (%s) and spool both "
                          "failed", mask_phone(caller), type(exc).__name__)
            return plain("service unavailable, retry later\n", 503)
        log.warning("voice notification from %s not stored now (%s): spooled as %s",
                    mask_phone(caller), type(exc).__name__, key)
    if not notice.active:
        return plain("")
    return _xml(REJECT if notice.inbound else NOTHING)
