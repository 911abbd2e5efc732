"""``POST /webhooks/at/ussd`` and ``/webhooks/at/ussd/events``."""

from __future__ import annotations

import logging

from flask import Response, current_app

from hotline import admission
from hotline.services.ussd import UssdHop, record_end
from hotline.webhooks import bp, form_fields, plain

log = logging.getLogger(__name__)

HOP_FIELDS = ("sessionId", "serviceCode", "phoneNumber")


@bp.post("/ussd")
def ussd() -> Response:
    fields = form_fields()
    missing = [f for f in HOP_FIELDS if not fields.get(f, "").strip()]
    if missing or "text" not in fields:
        return plain(f"bad request: missing {', '.join(missing or ['text'])}\n", 400)
    service = current_app.extensions["hotline.ussd"]
    hop = UssdHop(session_id=fields["sessionId"][:100], service_code=fields["serviceCode"],
                  phone=fields["phoneNumber"], network_code=fields.get("networkCode", "")[:10],
                  text=fields["text"])
    # Never raises: a failure is a clean END in the caller's language, and a hop that
    # waited too long for a thread is answered "busy" (hotline.admission).
    reply = service.handle(hop, admission.waited())
    return plain(("END " if reply.end else "CON ") + reply.text)


@bp.post("/ussd/events")
def ussd_events() -> Response:
    fields = form_fields()
    if not fields.get("sessionId", "").strip() or not fields.get("status", "").strip():
        return plain("bad request: sessionId and status are required\n", 400)
    if len(fields["sessionId"]) > 100:  # the column's width; no gateway id is that long
        return plain("bad request: sessionId is too long\n", 400)
    service = current_app.extensions["hotline.ussd"]
    record_end(fields, current_app.config["DEFAULT_REGION"],
               private=service.is_private(fields))
    return plain("ok\n")
