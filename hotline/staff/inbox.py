"""The staff inbox: texts from callers, and answering, turning into a request or dismissing.

Views only translate: ``hotline.services.inbox`` decides and writes the audit log.
Every POST ends in a redirect (post/redirect/get), except a refused reply, which
shows the page again with the text the staff member wrote and why it was refused.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from hotline.services import inbox
from hotline.services.inbox import InboxError, MessageNotFound
from hotline.staff import bp, labels


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1


@bp.get("/inbox")
def inbox_page() -> Any:
    status = request.args.get("status", "new")
    try:
        page = inbox.list_messages(status, _page_number(),
                                   current_app.config["STAFF"]["per_page"])
    except InboxError as exc:
        return render_template("staff/error.html", code=400, title=_("Bad filter"),
                               message=labels.error(exc)), 400
    return render_template("staff/inbox.html", page=page, status=status,
                           statuses=[*inbox.STATUSES, "all"])


def show(message_id: int, *, status: int = 200, error: str | None = None,
         draft: str = "") -> Any:
    try:
        item = inbox.get_message(message_id)
    except MessageNotFound:
        abort(404)
    return render_template("staff/inbox_message.html", item=item, error=error, draft=draft,
                           max_parts=inbox.max_parts()), status


@bp.get("/inbox/<int:message_id>")
def inbox_message(message_id: int) -> Any:
    return show(message_id)


@bp.post("/inbox/<int:message_id>/reply")
def inbox_reply(message_id: int) -> Any:
    body = request.form.get("body", "")
    try:
        inbox.reply(message_id, current_user.id, body)
    except MessageNotFound:
        abort(404)
    except InboxError as exc:
        return show(message_id, status=400, error=labels.error(exc), draft=body[:2000])
    flash(_("Reply queued: it goes out in the next moments."))
    return redirect(url_for("staff.inbox_message", message_id=message_id), 303)


@bp.post("/inbox/<int:message_id>/dismiss")
def inbox_dismiss(message_id: int) -> Any:
    try:
        inbox.dismiss(message_id, current_user.id)
    except MessageNotFound:
        abort(404)
    except InboxError as exc:
        return show(message_id, status=409, error=labels.error(exc))
    flash(_("Dismissed."))
    return redirect(url_for("staff.inbox_page"), 303)


@bp.post("/inbox/<int:message_id>/request")
def inbox_to_request(message_id: int) -> Any:
    try:
        request_id, ref = inbox.to_request(message_id, current_user.id)
    except MessageNotFound:
        abort(404)
    except InboxError as exc:
        return show(message_id, status=409, error=labels.error(exc))
    flash(_("Request %(ref)s made from the text; it is in the queue.", ref=ref))
    return redirect(url_for("staff.request_page", request_id=request_id), 303)
