"""Limits on how many callers' numbers one staff member may see, and the supervisor's
approval beyond them.

A claim shows nothing; a reveal shows a full number. One account that claims and
reveals a hundred numbers in a minute is either a stolen password or someone
harvesting callers, so each staff member may hold at most ``max_claims`` claims
at once and reveal at most ``reveals_per_hour`` numbers in any hour (counted
from the append-only audit log). The next reveal needs a supervisor's approval
(another person than the one asking), which allows that one reveal; pending
approvals show on every supervisor's dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from hotline.errors import CodedError
from hotline.extensions import db
from hotline.models import AuditLog, CallbackRequest, RevealApproval, StaffUser

HOUR = timedelta(hours=1)


class ClaimLimit(CodedError):
    """The staff member already holds as many claims as allowed."""

    code = "claim_limit"

    def __init__(self, held: int, limit: int) -> None:
        self.held, self.limit = held, limit
        super().__init__(f"already holding {held} requests (at most {limit})", n=held)


class RevealLimit(CodedError):
    """Over the hourly reveal limit: a supervisor was asked (or had refused)."""

    code = "reveal_limit"  # "reveal_refused" when a supervisor said no within the hour

    def __init__(self, limit: int, refused: bool = False) -> None:
        self.limit, self.refused = limit, refused
        super().__init__(f"more than {limit} numbers revealed in an hour: a supervisor "
                         f"must approve the next one", "reveal_refused" if refused
                         else "reveal_limit", n=limit)


class ApprovalError(CodedError):
    """An approval that cannot be decided (gone, already decided, one's own); ``code``
    says which."""


@dataclass(frozen=True)
class PendingReveal:
    id: int
    staff: str
    ref: str
    request_id: int
    asked_at: datetime
    reveals_last_hour: int


def claims_held(staff_id: int, now: datetime, but: int | None = None) -> int:
    """Live claims ``staff_id`` holds on open requests, not counting request ``but``."""
    query = select(func.count()).select_from(CallbackRequest).where(
        CallbackRequest.claimed_by_id == staff_id, CallbackRequest.status == "open",
        CallbackRequest.claim_expires_at > now)
    if but is not None:
        query = query.where(CallbackRequest.id != but)
    return db.session.scalar(query) or 0


def check_claims(staff_id: int, request_id: int, now: datetime, limit: int) -> None:
    """Raise ``ClaimLimit`` when taking ``request_id`` would exceed ``limit``.

    The staff row is locked first, so two claims by one person at the same
    moment are counted one after the other.
    """
    db.session.execute(select(StaffUser.id).where(StaffUser.id == staff_id).with_for_update())
    held = claims_held(staff_id, now, but=request_id)
    if held >= limit:
        db.session.rollback()
        raise ClaimLimit(held, limit)


def reveals_in_hour(staff_id: int, now: datetime) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditLog).where(
            AuditLog.staff_id == staff_id, AuditLog.action == "reveal_phone",
            AuditLog.at > now - HOUR)) or 0


def check_reveal(staff_id: int, request_id: int, ref: str, now: datetime, limit: int) -> str:
    """Whether this reveal may go ahead: "" under the limit, or the approval used.

    Over the limit an approved, unused approval of this request is used up;
    otherwise one is asked (once) and ``RevealLimit`` raised, after a commit so
    the request for approval stays.
    """
    if reveals_in_hour(staff_id, now) < limit:
        return ""
    mine = list(db.session.scalars(
        select(RevealApproval).where(RevealApproval.staff_id == staff_id,
                                     RevealApproval.request_id == request_id,
                                     RevealApproval.used_at.is_(None))
        .order_by(RevealApproval.id.desc()).with_for_update()))
    approved = next((a for a in mine if a.status == "approved"), None)
    if approved is not None:
        approved.status, approved.used_at = "used", now
        return f"approved by staff {approved.decided_by_id}"
    refused = any(a.status == "refused" and a.decided_at and now - a.decided_at < HOUR
                  for a in mine)
    if not any(a.status == "pending" for a in mine) and not refused:
        db.session.add(RevealApproval(request_id=request_id, staff_id=staff_id,
                                      status="pending", asked_at=now))
        db.session.add(AuditLog(at=now, staff_id=staff_id, action="reveal_approval_asked",
                                target=f"callback_request:{request_id}", detail=f"ref {ref}"))
    db.session.commit()
    raise RevealLimit(limit, refused=refused)


def pending(now: datetime) -> list[PendingReveal]:
    """Approvals waiting for a supervisor, oldest first."""
    rows = db.session.execute(
        select(RevealApproval, StaffUser.name, StaffUser.email, CallbackRequest.ref)
        .join(StaffUser, StaffUser.id == RevealApproval.staff_id)
        .join(CallbackRequest, CallbackRequest.id == RevealApproval.request_id)
        .where(RevealApproval.status == "pending")
        .order_by(RevealApproval.asked_at, RevealApproval.id).limit(200)).all()
    return [PendingReveal(a.id, name or email, ref, a.request_id, a.asked_at,
                          reveals_in_hour(a.staff_id, now)) for a, name, email, ref in rows]


def pending_count() -> int:
    return db.session.scalar(select(func.count()).select_from(RevealApproval)
                             .where(RevealApproval.status == "pending")) or 0


def decide(approval_id: int, supervisor_id: int, approve: bool, now: datetime) -> RevealApproval:
    """Approve (one reveal) or refuse; never one's own request. Audited."""
    approval = db.session.scalars(select(RevealApproval).where(RevealApproval.id == approval_id)
                                  .with_for_update()).one_or_none()
    if approval is None:
        raise ApprovalError("There is no such request for approval.", "approval_missing")
    if approval.status != "pending":
        db.session.rollback()
        raise ApprovalError("This request for approval was already decided.",
                            "approval_decided")
    if approval.staff_id == supervisor_id:
        db.session.rollback()
        raise ApprovalError("Someone else must approve your own reveals.", "approval_own")
    approval.status = "approved" if approve else "refused"
    approval.decided_by_id, approval.decided_at = supervisor_id, now
    db.session.add(AuditLog(at=now, staff_id=supervisor_id,
                            action="reveal_approved" if approve else "reveal_refused",
                            target=f"callback_request:{approval.request_id}",
                            detail=f"for staff {approval.staff_id}"))
    db.session.commit()
    return approval
