"""Finding a request: by the reference a caller reads out (any staff member), or by the
caller's full number (supervisors only, and every such search is audited).

The search is a POST answered with a redirect, so the audit entry of a number
search is written once however often the page is reloaded.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from hotline.extensions import db
from hotline.models import StaffUser
from hotline.phones import to_e164
from hotline.services.worklist import find_by_phone, find_by_ref
from hotline.staff import bp
from hotline.staff.auth import safe_next
from hotline.staff.i18n import LANGUAGES

QUERY_MAX = 40


def looks_like_phone(text: str) -> bool:
    """A full number: a leading + or 0 and at least 9 digits (references have 7)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    return text.startswith(("+", "00", "0")) and len(digits) >= 9


@bp.get("/search")
def search_page() -> Any:
    return render_template("staff/search.html", query="")


@bp.post("/search")
def search() -> Any:
    text = (request.form.get("q") or "").strip()
    if not text or len(text) > QUERY_MAX:
        return render_template("staff/search.html", query=text[:QUERY_MAX],
                               error=_("Type a 7-digit reference or a full phone number.")), 400
    if looks_like_phone(text):
        if not current_user.can("supervisor"):
            abort(403)
        phone = to_e164(text)
        if phone is None:
            return render_template("staff/search.html", query=text,
                                   error=_("That is not a phone number we can read.")), 400
        found = find_by_phone(phone, current_user.id)
    else:
        found = find_by_ref(text)
    if found is None:
        flash(_("Nothing found for what you typed."))
        return redirect(url_for("staff.search_page"), 303)
    return redirect(url_for("staff.request_page", request_id=found), 303)


@bp.post("/language")
def choose_language() -> Any:
    """The staff member's dashboard language, kept on their account."""
    chosen = request.form.get("language") or ""
    if chosen not in (*LANGUAGES, "browser"):
        abort(400)
    user = db.session.get(StaffUser, current_user.id)
    if user is None:
        abort(403)
    user.ui_language = None if chosen == "browser" else chosen
    db.session.commit()
    return redirect(safe_next(request.form.get("next")), 303)
