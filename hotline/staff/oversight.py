"""Supervisor oversight: reveal approvals (the alert on every page) and the audit log.

The audit log is paged and filtered here rather than capped: what an
investigation needs is rarely among the latest 200 lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Select, func, select

from hotline.extensions import db
from hotline.models import AuditLog, StaffUser
from hotline.services import reveals
from hotline.services.callback_policy import now_utc
from hotline.staff import bp, labels
from hotline.staff.auth import requires

PER_PAGE = 50
MAX_PAGE = 100_000
MAX_ID = 2**31 - 1


class BadFilter(ValueError):
    """A filter value that cannot be used; the message says which."""


@bp.context_processor
def oversight_globals() -> dict[str, Any]:
    """``pending_reveals``: how many reveals wait for approval (supervisors only)."""
    if not current_user.is_authenticated \
            or not current_user.can("supervisor") or current_user.must_change_password \
            or current_user.needs_second_factor:
        return {"pending_reveals": 0}
    return {"pending_reveals": reveals.pending_count()}


@bp.get("/reveals")
@requires("supervisor")
def reveal_approvals() -> Any:
    return render_template("staff/reveals.html", pending=reveals.pending(now_utc()),
                           limit=current_app.extensions["hotline.callbacks"].reveals_per_hour)


@bp.post("/reveals/<int:approval_id>")
@requires("supervisor")
def decide_reveal(approval_id: int) -> Any:
    decision = request.form.get("decision", "")
    if decision not in ("approve", "refuse") or approval_id > MAX_ID:
        return render_template("staff/error.html", code=400, title="Bad choice",
                               message="Choose approve or refuse."), 400
    try:
        reveals.decide(approval_id, current_user.id, decision == "approve", now_utc())
    except reveals.ApprovalError as exc:
        return render_template("staff/reveals.html", pending=reveals.pending(now_utc()),
                               error=str(exc), limit=current_app.extensions[
                                   "hotline.callbacks"].reveals_per_hour), 409
    flash(_("Approved: they can reveal that number once.") if decision == "approve"
          else _("Refused."))
    return redirect(url_for("staff.reveal_approvals"), 303)


# --- the audit log -------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    staff: str = ""  # an email, or part of one
    address: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1


def _text(args: Any, name: str, limit: int) -> str:
    value = (args.get(name) or "").strip()
    if len(value) > limit or not value.isprintable():
        raise BadFilter(f"{name} must be at most {limit} printable characters")
    return value


def _day(args: Any, name: str) -> date | None:
    value = _text(args, name, 10)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name} must be a date like 2026-11-29") from None


def audit_filter(args: Any) -> AuditFilter:
    page = _text(args, "page", 6) or "1"
    if not page.isascii() or not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise BadFilter(f"page must be a whole number from 1 to {MAX_PAGE}")
    action = _text(args, "action", 40)
    if action and action not in labels.AUDIT:
        raise BadFilter("action must be one of the listed kinds")
    return AuditFilter(action=action, staff=_text(args, "staff", 254).lower(),
                       address=_text(args, "address", 45), since=_day(args, "since"),
                       until=_day(args, "until"), page=int(page))


def _start(day: date) -> datetime:
    zone = ZoneInfo(current_app.config.get("TIMEZONE") or "Africa/Khartoum")
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _where(query: Select, f: AuditFilter) -> Select:
    if f.action:
        query = query.where(AuditLog.action == f.action)
    if f.staff:
        pattern = "%" + f.staff.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(StaffUser.email.like(pattern, escape="\\"))
    if f.address:
        query = query.where(AuditLog.address == f.address)
    if f.since:
        query = query.where(AuditLog.at >= _start(f.since))
    if f.until:
        query = query.where(AuditLog.at < _start(f.until + timedelta(days=1)))
    return query


@bp.get("/audit")
@requires("supervisor")
def audit_log() -> Any:
    try:
        f = audit_filter(request.args)
    except BadFilter as exc:
        return render_template("staff/error.html", code=400, title="Bad filter",
                               message=str(exc)), 400
    base = select(AuditLog, StaffUser.name, StaffUser.email) \
        .outerjoin(StaffUser, StaffUser.id == AuditLog.staff_id)
    total = db.session.scalar(_where(
        select(func.count()).select_from(AuditLog)
        .outerjoin(StaffUser, StaffUser.id == AuditLog.staff_id), f)) or 0
    rows = db.session.execute(
        _where(base, f).order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(PER_PAGE).offset((f.page - 1) * PER_PAGE)).all()
    pages = max(1, -(-total // PER_PAGE))
    query = {k: v for k, v in (("action", f.action), ("staff", f.staff), ("address", f.address),
                               ("since", f.since.isoformat() if f.since else ""),
                               ("until", f.until.isoformat() if f.until else "")) if v}
    return render_template("staff/audit.html", rows=rows, filters=f, total=total, pages=pages,
                           query=query, actions=labels.AUDIT)
