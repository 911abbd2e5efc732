"""``POST /webhooks/at/sms/delivery`` and ``/webhooks/at/sms/optout``.

Both answer 200 quickly, also for a report about a message we do not know (logged);
bad fields get 400 and nothing is written; a database failure gets 503, so the
gateway tries again later.
"""

from __future__ import annotations

import logging

from flask import Response, current_app
from sqlalchemy.exc import SQLAlchemyError

from hotline.extensions import db
from hotline.phones import to_e164
from hotline.services.delivery import DeliveryReport, opt_out, record_report
from hotline.webhooks import bp, form_fields, plain

log = logging.getLogger(__name__)

MAX_ID = 100
MAX_WORD = 40


def _word(fields: dict[str, str], name: str, required: bool = False) -> str | None:
    """A short printable token; None when it is not one (or missing but required)."""
    value = fields.get(name, "").strip()
    if value == "None":
        value = ""
    if (required and not value) or len(value) > MAX_WORD or not value.isprintable():
        return None
    return value


@bp.post("/sms/delivery")
def sms_delivery() -> Response:
    fields = form_fields()
    message_id = fields.get("id", "").strip()
    if not message_id or len(message_id) > MAX_ID or not message_id.isprintable():
        return plain("bad request: id missing or invalid\n", 400)
    status = _word(fields, "status", required=True)
    if status is None:
        return plain("bad request: status missing or invalid\n", 400)
    reason, network = _word(fields, "failureReason"), _word(fields, "networkCode")
    if reason is None or network is None:
        return plain("bad request: failureReason or networkCode invalid\n", 400)
    retries = fields.get("retryCount", "").strip()
    if retries and not (retries.isascii() and retries.isdigit() and len(retries) < 6):
        return plain("bad request: retryCount must be a whole number\n", 400)
    phone = fields.get("phoneNumber", "")
    if phone and to_e164(phone, current_app.config["DEFAULT_REGION"]) is None:
        return plain("bad request: phoneNumber is not a valid phone number\n", 400)
    try:
        record_report(DeliveryReport(message_id, status, reason, network))
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("delivery report %s not stored", message_id[:40])
        return plain("service unavailable, retry later\n", 503)
    return plain("")


@bp.post("/sms/optout")
def sms_optout() -> Response:
    fields = form_fields()
    phone = to_e164(fields.get("phoneNumber", ""), current_app.config["DEFAULT_REGION"])
    if phone is None:
        return plain("bad request: phoneNumber missing or not a valid phone number\n", 400)
    if _word(fields, "senderId", required=True) is None:
        return plain("bad request: senderId missing or invalid\n", 400)
    try:
        opt_out(phone)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("opt-out not stored")
        return plain("service unavailable, retry later\n", 503)
    return plain("")
