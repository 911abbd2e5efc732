"""The worklist: open requests, what to call first on top, filtered and paged.

Urgent before normal, then the earliest deadline; each row says whether it can
be called now, is waiting (a retry or a safe window), or is past its deadline.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from hotline.services.callback_policy import (
    CHANNELS,
    REASONS,
    STATUSES,
    InvalidChoice,
    now_utc,
    settings,
)
from hotline.services.worklist import QueueFilter, list_queue, reassigned_to
from hotline.staff import bp, local_time

FILTERS = ("status", "reason", "language", "channel")
SWITCHES = ("mine", "callable")


def filters_from(args: Any, page: bool = True) -> QueueFilter:
    """A ``QueueFilter`` from query or form fields; empty fields mean "any"."""
    values = {name: (args.get(name) or "").strip()[:40] or None for name in FILTERS}
    number = (args.get("page") or "1").strip()
    if page and (not number.isascii() or not number.isdigit() or len(number) > 6):
        raise InvalidChoice(_("The page must be a whole number."))
    mine = args.get("mine") == "1"
    return QueueFilter(status=values["status"] or "open", reason=values["reason"],
                       language=values["language"], channel=values["channel"],
                       page=int(number) if page else 1,
                       per_page=current_app.config["STAFF"]["per_page"],
                       mine=current_user.id if mine and current_user.is_authenticated else None,
                       callable=args.get("callable") == "1")


def choices() -> dict[str, list[str]]:
    """What the filter menus offer: every status, reason, channel and content language."""
    return {"status": [*STATUSES, "all"], "reason": list(REASONS), "channel": list(CHANNELS),
            "language": list(current_app.extensions["hotline.catalog"].languages)}


def out_of_hours() -> str | None:
    """When the centre's calling hours start again, if they are over now."""
    now = now_utc()
    week = settings().week
    return None if week.is_open(now) else local_time(week.next_open(now), "%d %b %H:%M")


@bp.get("/")
def queue() -> Any:
    try:
        filters = filters_from(request.args)
        page = list_queue(filters)
    except InvalidChoice as exc:
        return render_template("staff/error.html", code=400, title=_("Bad filter"),
                               message=str(exc)), 400
    query = {name: getattr(filters, name) or "" for name in FILTERS}
    query.update(mine="1" if filters.mine else "", callable="1" if filters.callable else "")
    given = reassigned_to(current_user.id)
    return render_template("staff/queue.html", page=page, filters=filters, query=query,
                           choices=choices(), updated=local_time(now_utc(), "%H:%M:%S"),
                           refresh=current_app.config["STAFF"]["refresh_seconds"],
                           closed_until=out_of_hours(), given=given,
                           given_ids={item.id for item in given})
