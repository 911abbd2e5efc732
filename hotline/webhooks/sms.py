"""``POST /webhooks/at/sms``: a text a caller sent to our short code.

The text is committed before the 200; a repeated delivery (same ``id``) is
answered 200 and changes nothing; when the database cannot store it the answer
is 503, and Africa's Talking tries again (every minute, for up to 12 hours).
"""

from __future__ import annotations

import logging

from flask import Response, current_app
from sqlalchemy.exc import SQLAlchemyError

from hotline.extensions import db
from hotline.phones import to_e164
from hotline.services.inbound_sms import InboundText
from hotline.webhooks import bp, form_fields, plain

log = logging.getLogger(__name__)

REQUIRED = ("from", "to", "id")
MAX_ID = 100


@bp.post("/sms")
def sms() -> Response:
    fields = form_fields()
    missing = [f for f in REQUIRED if not fields.get(f, "").strip()]
    if "text" not in fields:
        missing.append("text")
    if missing:
        return plain(f"bad request: missing {', '.join(missing)}\n", 400)
    if len(fields["id"]) > MAX_ID or len(fields["to"]) > 40:
        return plain("bad request: id or to is too long\n", 400)
    phone = to_e164(fields["from"], current_app.config["DEFAULT_REGION"])
    if phone is None:
        return plain("bad request: from is not a valid phone number\n", 400)
    text = InboundText(provider_id=fields["id"].strip(), phone=phone, to_code=fields["to"],
                       text=fields["text"], link_id=fields.get("linkId", "")[:100],
                       network_code=fields.get("networkCode", "")[:10],
                       gateway_date=fields.get("date", "")[:40])
    try:
        handled = current_app.extensions["hotline.sms"].receive(text)
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("inbound SMS not stored; the gateway will retry")
        return Response("database unavailable, try again\n", 503, mimetype="text/plain",
                        headers={"Retry-After": "60"})
    return plain("ok\n" if handled.stored else "ok (already received)\n")
