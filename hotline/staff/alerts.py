"""Community alert pages: leaders (admins), broadcasts with live progress, pause, resume and
cancel (supervisors), free-text alerts written by one person and approved by another."""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from hotline import alerttexts, areas
from hotline.extensions import db
from hotline.models import Broadcast, Leader, StaffUser
from hotline.privacy import mask_phone
from hotline.services import broadcasts, leaders, subscriptions
from hotline.staff import bp
from hotline.staff.auth import requires

MAX_ID = 2**31 - 1
STATUS = {"pending": "Waiting for approval", "queued": "Starting", "sending": "Sending",
          "paused": "Paused", "done": "Done", "cancelled": "Cancelled", "expired": "Expired",
          "rejected": "Rejected"}
SUPPRESSION = {"opted_out": "opted out", "exited": "silent exit", "unreachable": "unreachable",
               "danger": "danger request open", "daily_cap": "daily limit", "other": "other"}
TOPIC = {"safety": "Safety warning", "services": "MRRC service news", "tips": "Awareness tip"}
CHART_W, CHART_H, CHART_AREAS = 560, 200, 6


def _get(model: type, object_id: int) -> Any:
    found = db.session.get(model, object_id) if object_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


def _area_choices() -> list[tuple[str, str]]:
    known = areas.load()
    out = []
    for state in known.states():
        out.append((state.code, state.name("en")))
        out += [(a.code, f"{state.name('en')}: {a.name('en')}") for a in known.localities(
            state.code)]
    return out


@bp.app_template_filter("area_names")
def _area_names(codes: str, lang: str = "en") -> str:
    return alerttexts.names(codes.split(","), areas.load(), lang)


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
        return _leaders_page(400, error=str(exc))
    flash(f"{made.name} can now send alerts from {mask_phone(made.phone)}; they choose a PIN "
          "on first use.")
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
            flash("Saved.")
        elif action in ("enable", "disable"):
            leaders.set_active(leader.id, action == "enable", current_user.id)
            flash("Switched on." if action == "enable" else
                  "Switched off: the phone no longer sees the alert menu.")
        elif action == "reset_pin":
            leaders.reset_pin(leader.id, current_user.id)
            flash("PIN cleared and unlocked: the leader chooses a new PIN on next use.")
        else:
            abort(400)
    except leaders.LeaderError as exc:
        db.session.rollback()
        return leader_page(leader_id, 400, error=str(exc))
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
    return render_template("staff/broadcasts.html", rows=rows, status_names=STATUS,
                           suppression=SUPPRESSION, topics=TOPIC, authors=authors,
                           chart=_chart(), by_area=subscriptions.subscribers_by_area(),
                           refresh=current_app.config["STAFF"]["refresh_seconds"])


@bp.post("/broadcasts/<int:broadcast_id>/<any(pause, resume, cancel):action>")
@requires("supervisor")
def broadcast_action(broadcast_id: int, action: str) -> Any:
    _get(Broadcast, broadcast_id)
    try:
        n = getattr(broadcasts, action)(broadcast_id, current_user.id)
    except broadcasts.BroadcastError as exc:
        flash(str(exc))
    else:
        flash({"pause": f"Paused: {n} messages held.", "resume": f"Resumed: {n} messages "
               "released.", "cancel": f"Cancelled: {n} messages will not be sent."}[action])
    return redirect(url_for("staff.broadcasts_page"), 303)


def _new_page(status: int = 200, **extra: Any) -> Any:
    return render_template("staff/broadcast_new.html", areas=_area_choices(), topics=TOPIC,
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
        return _new_page(400, error=str(exc))
    flash("Saved. A supervisor other than you must approve it before it goes out.")
    return redirect(url_for("staff.broadcast_page", broadcast_id=made.id), 303)


@bp.get("/broadcasts/<int:broadcast_id>")
@requires("agent")
def broadcast_page(broadcast_id: int) -> Any:
    broadcast = _get(Broadcast, broadcast_id)
    author = db.session.get(StaffUser, broadcast.author_id) if broadcast.author_id else None
    return render_template("staff/broadcast.html", b=broadcast, draft=broadcasts.draft(broadcast),
                           author=author, leader=broadcast.leader, status_names=STATUS,
                           topics=TOPIC, settings=broadcasts.settings(),
                           can_approve=current_user.can("supervisor")
                           and broadcast.author_id != current_user.id
                           and broadcast.status == "pending")


@bp.post("/broadcasts/<int:broadcast_id>/<any(approve, reject):decision>")
@requires("supervisor")
def decide_broadcast(broadcast_id: int, decision: str) -> Any:
    _get(Broadcast, broadcast_id)
    try:
        getattr(broadcasts, decision)(broadcast_id, current_user.id)
    except broadcasts.BroadcastError as exc:
        flash(str(exc))
    else:
        flash("Approved: the alert is going out." if decision == "approve" else "Rejected.")
    return redirect(url_for("staff.broadcast_page", broadcast_id=broadcast_id), 303)
