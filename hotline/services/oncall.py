"""On-call alerts: an urgent callback request must not wait unseen for the morning.

An SMS goes to every configured on-call number when an urgent (danger) request
is created outside working hours, and again (once) when one stays unclaimed past
a threshold. It carries the reference only: no caller number, no reason, as a
staff phone may be seen by others too. Each alert has an idempotency key, so a
replayed submission or a second sweep sends nothing more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, scoped_session

from hotline.models import CallbackRequest, utcnow
from hotline.services.outbox import queue_sms
from hotline.worktime import WorkWeek

URGENT = 0


def _numbers() -> list[str]:
    return [str(n).strip() for n in current_app.config["OUTBOX"].get("oncall_numbers") or []
            if str(n).strip()]


def _alert(session: Session | scoped_session, request_id: int, ref: str, why: str) -> int:
    cfg = current_app.config["OUTBOX"]
    catalog = current_app.extensions["hotline.catalog"]
    lang = cfg.get("oncall_language") or current_app.config["DEFAULT_LANGUAGE"]
    lang = lang if lang in catalog.languages else current_app.config["DEFAULT_LANGUAGE"]
    body = catalog.render(lang, "sms.oncall.waiting", {"ref": ref})
    for number in _numbers():
        queue_sms(session, to=number, body=body, language=lang, priority="reply",
                  kind="oncall", idempotency_key=f"oncall-{why}-{request_id}-{number}",
                  callback_request_id=request_id)
    return len(_numbers())


def after_hours(session: Session | scoped_session, row: CallbackRequest, week: WorkWeek,
                now: datetime) -> int:
    """Alert on-call for a new urgent request when nobody is at work; in the caller's
    transaction, so the alert exists exactly when the request does."""
    if row.priority != URGENT or week.is_open(now):
        return 0
    return _alert(session, row.id, row.ref, "created")


def sweep_unclaimed(now: datetime | None = None) -> str:
    """Alert on-call once for each urgent open request nobody claimed in time."""
    from hotline.extensions import db

    if not _numbers():
        return "on-call: no on-call numbers configured"
    now = now or utcnow()
    minutes = float(current_app.config["OUTBOX"]["oncall_unclaimed_minutes"])
    with Session(db.engine) as session:
        waiting = session.execute(
            select(CallbackRequest.id, CallbackRequest.ref)
            .where(CallbackRequest.status == "open", CallbackRequest.priority == URGENT,
                   CallbackRequest.claimed_by_id.is_(None), CallbackRequest.attempts == 0,
                   CallbackRequest.created_at <= now - timedelta(minutes=minutes))).all()
        for request_id, ref in waiting:
            _alert(session, request_id, ref, "unclaimed")
        session.commit()
    return f"on-call: {len(waiting)} urgent request(s) waiting unclaimed"
