"""``/staff/outbox``: the messages the service sent (or, in development, "sent" to the
console), for supervisors: numbers masked, suppressed and failed ones included."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext as _

from hotline.services.outbox_log import STATUSES, counts, recent
from hotline.staff import bp
from hotline.staff.auth import requires


@bp.get("/outbox")
@requires("supervisor")
def outbox() -> Any:
    status = request.args.get("status", "")
    before = request.args.get("before", "")
    if status and status not in STATUSES:
        return render_template("staff/error.html", code=400, title=_("Bad status"),
                               message=_("Choose one of the statuses offered.")), 400
    if before and not (before.isascii() and before.isdigit() and len(before) < 12):
        return render_template("staff/error.html", code=400, title=_("Bad page"),
                               message=_("The page marker must be a message number.")), 400
    lines = recent(status or None, int(before) if before else None)
    console = not (current_app.config.get("AT_USERNAME") and current_app.config.get("AT_API_KEY"))
    return render_template("staff/outbox.html", lines=lines, counts=counts(), status=status,
                           statuses=STATUSES, console=console,
                           next_before=lines[-1].id if len(lines) == 100 else None)
