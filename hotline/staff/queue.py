"""The queue page: open requests, urgent first then oldest, filtered and paged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, render_template, request

from hotline.services.callbacks import CHANNELS, REASONS, STATUSES, InvalidChoice
from hotline.services.queue import QueueFilter, list_queue
from hotline.staff import bp, local_time

FILTERS = ("status", "reason", "language", "channel")


def filters_from(args: Any, page: bool = True) -> QueueFilter:
    """A ``QueueFilter`` from query or form fields; empty fields mean "any"."""
    values = {name: (args.get(name) or "").strip()[:40] or None for name in FILTERS}
    number = (args.get("page") or "1").strip()
    if page and (not number.isascii() or not number.isdigit() or len(number) > 6):
        raise InvalidChoice("page must be a whole number")
    return QueueFilter(status=values["status"] or "open", reason=values["reason"],
                       language=values["language"], channel=values["channel"],
                       page=int(number) if page else 1,
                       per_page=current_app.config["STAFF"]["per_page"])


def choices() -> dict[str, list[str]]:
    """What the filter menus offer: every status, reason, channel and content language."""
    return {"status": [*STATUSES, "all"], "reason": list(REASONS), "channel": list(CHANNELS),
            "language": list(current_app.extensions["hotline.catalog"].languages)}


@bp.get("/")
def queue() -> Any:
    try:
        filters = filters_from(request.args)
        page = list_queue(filters)
    except InvalidChoice as exc:
        return render_template("staff/error.html", code=400, title="Bad filter",
                               message=str(exc)), 400
    query = {name: getattr(filters, name) or "" for name in FILTERS}
    return render_template("staff/queue.html", page=page, filters=filters, query=query,
                           choices=choices(), updated=local_time(datetime.now(UTC), "%H:%M:%S"),
                           refresh=current_app.config["STAFF"]["refresh_seconds"])
