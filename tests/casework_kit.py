"""What staff and auditors see of a callback request, read straight from the database:
the timeline, the audit log and the request's own columns. The casework tests compare
these whole, so a wrong time, actor, detail or note on any line shows up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, StaffUser
from hotline.services import caller_requests
from hotline.services.callback_policy import utc

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # Sunday 08:00 in Khartoum, a working morning
PHONE = "+249912345678"
OTHER_PHONE = "+249911111111"


@pytest.fixture(name="staff")
def staff_fixture(app) -> dict[str, int]:
    """Three agents (one who never gave a name), a supervisor, and a deactivated account."""
    people = [StaffUser(email=f"{n}@mrrc.example", name=n.title(), password_hash="x")
              for n in ("amal", "bashir")]
    people.append(StaffUser(email="anon@mrrc.example", name="", password_hash="x"))
    people.append(StaffUser(email="sue@mrrc.example", name="Sue", role="supervisor",
                            password_hash="x"))
    people.append(StaffUser(email="gone@mrrc.example", name="Gone", password_hash="x",
                            active=False))
    db.session.add_all(people)
    db.session.commit()
    return {p.email.split("@")[0]: p.id for p in people}


def submit(phone: str = PHONE, reason: str = "danger", now: datetime = T0, **kw) -> int:
    return caller_requests.submit(phone, reason=reason, safe_to_call=kw.pop("safe", "yes"),
                                  sms_ok=False, language=kw.pop("language", "en"), now=now,
                                  **kw).request_id


def events(request_id: int, since: int = 0) -> list[tuple]:
    """(kind, at, staff id, detail, note) of each timeline line, oldest first."""
    db.session.expire_all()
    rows = db.session.scalars(select(CallbackEvent).where(CallbackEvent.request_id == request_id)
                              .order_by(CallbackEvent.id)).all()
    return [(e.kind, utc(e.at), e.staff_id, e.detail, e.note) for e in rows][since:]


def audit(action: str) -> list[tuple]:
    """(at, staff id, target, detail) of each audit line of this action, oldest first."""
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action)
                              .order_by(AuditLog.id)).all()
    return [(utc(a.at), a.staff_id, a.target, a.detail) for a in rows]


def row(request_id: int) -> CallbackRequest:
    db.session.expire_all()
    return db.session.get(CallbackRequest, request_id)


def claim_state(request_id: int) -> tuple:
    r = row(request_id)
    return r.claimed_by_id, utc(r.claim_expires_at)


def ref_of(request_id: int) -> str:
    return row(request_id).ref
