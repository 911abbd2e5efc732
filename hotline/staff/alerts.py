"""Community alert pages: leaders (admins), broadcasts with live progress, pause, resume and
cancel (supervisors), free-text alerts written by one person and approved by another."""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from hotline import alerttexts, areas
from hotline.extensions import db
from hotline.models import Broadcast, Leader, StaffUser
from hotline.privacy import mask_phone
from hotline.services import broadcasts, leaders, subscriptions
from hotline.staff import bp, i18n, labels
from hotline.staff.auth import requires

MAX_ID = 2**31 - 1
CHART_W, CHART_H, CHART_AREAS = 560, 200, 6


def _get(model: type, object_id: int) -> Any:
    found = db.session.get(model, object_id) if object_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


def _area_choices() -> list[tuple[str, str]]:
    """Every area, named in the dashboard's language (a locality after its state)."""
    known, lang = areas.load(), i18n.current()
    out = []
    for state in known.states():
        out.append((state.code, state.name(lang)))
        out += [(a.code, f"{state.name(lang)}: {a.name(lang)}") for a in known.localities(
            state.code)]
    return out


@bp.app_template_filter("area_names")
def _area_names(codes: str, lang: str | None = None) -> str:
    """Area codes as names in the dashboard's language (the stored codes never show)."""
    return alerttexts.names(codes.split(","), areas.load(), lang or i18n.current())


# --- leaders (admins) ----------------------------------------------------------------------

def _leaders_page(status: int = 200, **extra: Any) -> Any:
    rows = leaders.listing()
    return render_template("staff/leaders.html", leaders=rows, areas=_area_choices(),
                           masked={x.id: mask_phone(x.phone) for x in rows},
                           locked={x.id for x in rows if leaders.locked(x)},
                           form=request.form, **extra), status


@bp.get("/leaders")
@requires("admin")
def leaders_page() -> Any:
    return _leaders_page()


@bp.post("/leaders")
@requires("admin")
def create_leader() -> Any:
    try:
        made = leaders.register(request.form.get("name", ""), request.form.get("phone", ""),
                                request.form.getlist("areas"), request.form.get("limit", ""),
                                current_user.id)
    except leaders.LeaderError as exc:
        db.session.rollback()
        return _leaders_page(400, error=labels.error(exc))
    flash(_("%(name)s can now send alerts from %(phone)s; they choose a PIN on first use.",
            name=made.name, phone=mask_phone(made.phone)))
    return redirect(url_for("staff.leaders_page"), 303)


@bp.get("/leaders/<int:leader_id>")
@requires("admin")
def leader_page(leader_id: int, status: int = 200, **extra: Any) -> Any:
    leader = _get(Leader, leader_id)
    return render_template("staff/leader.html", leader=leader, areas=_area_choices(),
                           masked=mask_phone(leader.phone), locked=leaders.locked(leader),
                           **extra), status


@bp.post("/leaders/<int:leader_id>")
@requires("admin")
def update_leader(leader_id: int) -> Any:
    leader = _get(Leader, leader_id)
    action = request.form.get("action", "save")
    try:
        if action == "save":
            leaders.update(leader.id, request.form.get("name", ""),
                           request.form.getlist("areas"), request.form.get("limit", ""),
                           current_user.id)
            flash(_("Saved."))
        elif action in ("enable", "disable"):
            leaders.set_active(leader.id, action == "enable", current_user.id)
            flash(_("Switched on.") if action == "enable" else
                  _("Switched off: the phone no longer sees the alert menu."))
        elif action == "reset_pin":
            leaders.reset_pin(leader.id, current_user.id)
            flash(_("PIN cleared and unlocked: the leader chooses a new PIN on next use."))
        else:
            abort(400)
    except leaders.LeaderError as exc:
        db.session.rollback()
        return leader_page(leader_id, 400, error=labels.error(exc))
    return redirect(url_for("staff.leader_page", leader_id=leader.id), 303)


# --- broadcasts (supervisors; any staff may write a free-text alert) -------------------------

def _chart() -> dict[str, Any]:
    """Subscribers per area over the last weeks as SVG polylines, drawn on the server."""
    ends, series = broadcasts.subscribers_over_time()
    top = sorted(series, key=lambda code: series[code][-1], reverse=True)[:CHART_AREAS]
    peak = max([max(series[c]) for c in top] + [1])
    step = CHART_W / max(len(ends) - 1, 1)
    lines = []
    for i, code in enumerate(top):
        points = " ".join(f"{j * step:.1f},{CHART_H - n * CHART_H / peak:.1f}"
                          for j, n in enumerate(series[code]))
        lines.append({"code": code, "points": points, "last": series[code][-1], "n": i})
    return {"lines": lines, "peak": peak, "first": ends[0], "last": ends[-1],
            "width": CHART_W, "height": CHART_H}


@bp.get("/broadcasts")
@requires("supervisor")
def broadcasts_page() -> Any:
    rows = broadcasts.listing()
    authors = {u.id: u.name or u.email for u in db.session.query(StaffUser).all()}
    return render_template("staff/broadcasts.html", rows=rows, authors=authors,
                           chart=_chart(), by_area=subscriptions.subscribers_by_area(),
                           refresh=current_app.config["STAFF"]["refresh_seconds"])


@bp.post("/broadcasts/<int:broadcast_id>/<any(pause, resume, cancel):action>")
@requires("supervisor")
def broadcast_action(broadcast_id: int, action: str) -> Any:
    _get(Broadcast, broadcast_id)
    try:
        n = getattr(broadcasts, action)(broadcast_id, current_user.id)
    except broadcasts.BroadcastError as exc:
        flash(labels.error(exc))
    else:
        said = {"pause": _("Paused: %(n)s messages held.", n=n),
                "resume": _("Resumed: %(n)s messages released.", n=n),
                "cancel": _("Cancelled: %(n)s messages will not be sent.", n=n)}
        flash(said[action])
    return redirect(url_for("staff.broadcasts_page"), 303)


def _new_page(status: int = 200, **extra: Any) -> Any:
    return render_template("staff/broadcast_new.html", areas=_area_choices(),
                           form=request.form, languages=_languages(),
                           key=secrets.token_urlsafe(16), **extra), status


def _languages() -> list[str]:
    return list(current_app.extensions["hotline.catalog"].languages)


@bp.get("/broadcasts/new")
@requires("agent")
def new_broadcast() -> Any:
    return _new_page()


@bp.post("/broadcasts/new")
@requires("agent")
def create_broadcast() -> Any:
    texts = {lang: request.form.get(f"text_{lang}", "") for lang in _languages()}
    key = request.form.get("key", "")
    if not 10 <= len(key) <= 40 or not key.replace("-", "").replace("_", "").isalnum():
        abort(400)
    try:
        made = broadcasts.create_free_text(current_user.id, texts, request.form.getlist("areas"),
                                           request.form.get("topic", ""),
                                           request.form.get("urgent") == "yes",
                                           key=f"staff:{current_user.id}:{key}")
    except broadcasts.BroadcastError as exc:
        db.session.rollback()
        return _new_page(400, error=labels.error(exc))
    flash(_("Saved. A supervisor other than you must approve it before it goes out."))
    return redirect(url_for("staff.broadcast_page", broadcast_id=made.id), 303)


@bp.get("/broadcasts/<int:broadcast_id>")
@requires("agent")
def broadcast_page(broadcast_id: int) -> Any:
    broadcast = _get(Broadcast, broadcast_id)
    author = db.session.get(StaffUser, broadcast.author_id) if broadcast.author_id else None
    return render_template("staff/broadcast.html", b=broadcast, draft=broadcasts.draft(broadcast),
                           author=author, leader=broadcast.leader,
                           settings=broadcasts.settings(), form=request.form,
                           can_approve=current_user.can("supervisor")
                           and broadcast.author_id != current_user.id
                           and broadcast.status == "pending")


@bp.post("/broadcasts/<int:broadcast_id>/<any(approve, reject):decision>")
@requires("supervisor")
def decide_broadcast(broadcast_id: int, decision: str) -> Any:
    """Approve (with a version in any language the author did not write, if given) or
    reject; either way a leader who wrote it hears by SMS."""
    _get(Broadcast, broadcast_id)
    try:
        if decision == "approve":
            broadcasts.approve(broadcast_id, current_user.id, translations={
                lang: request.form.get(f"text_{lang}", "")[:2000] for lang in _languages()})
        else:
            broadcasts.reject(broadcast_id, current_user.id)
    except broadcasts.BroadcastError as exc:
        flash(labels.error(exc))
    else:
        flash(_("Approved: the alert is going out.") if decision == "approve"
              else _("Rejected."))
    return redirect(url_for("staff.broadcast_page", broadcast_id=broadcast_id), 303)
