"""Callback requests from the staff side: claims, call attempts, closing, reopening
and reassigning a request, revealing the caller's number, the urgent banner.

Exactly one staff member may work a request at a time: a claim is taken with one
conditional UPDATE, so two clicks at the same moment cannot both win. Phone
numbers leave this module masked, except through ``reveal_phone``, which only the
claim holder may call and which is written to the audit log.

Functions take ids and plain values, return frozen dataclasses, commit their
own work and raise the ``CallbackError`` subclasses of ``callback_policy``; they
need an app context (settings and the database) but never a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import or_, select, update

from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, Contact, StaffUser
from hotline.services import reveals
from hotline.services.callback_policy import (
    ATTEMPT_RESULTS,
    OUTCOMES,
    REASONS,
    REFERRALS,
    REOPENABLE,
    RETRY_RESULTS,
    UNANSWERED,
    UNCOUNTED,
    URGENT,
    ClaimConflict,
    EarlyAttempt,
    InvalidChoice,
    NotHolder,
    RequestClosed,
    RequestNotFound,
    Settings,
    UnknownStaff,
    _check,
    _event,
    _note,
    now_utc,
    settings,
    utc,
)

# --- results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimResult:
    request_id: int
    ref: str
    staff_id: int
    expires_at: datetime
    renewed: bool  # the same staff member already held it


@dataclass(frozen=True)
class AttemptResult:
    request_id: int
    ref: str
    status: str  # open, or unreachable after the last allowed attempt
    attempts: int
    next_attempt_at: datetime | None
    claim_kept: bool


# --- helpers ---------------------------------------------------------------------------------

def _locked(request_id: int) -> CallbackRequest:
    """The request row, locked until commit so two staff actions apply one after the other."""
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise RequestNotFound(request_id)
    row = db.session.scalars(select(CallbackRequest).where(CallbackRequest.id == request_id)
                             .with_for_update()).one_or_none()
    if row is None:
        raise RequestNotFound(request_id)
    return row


def _holds(row: CallbackRequest, staff_id: int, now: datetime) -> bool:
    expires = utc(row.claim_expires_at)
    return row.claimed_by_id == staff_id and expires is not None and expires > now


def _require_holder(row: CallbackRequest, staff_id: int, now: datetime) -> None:
    if row.status != "open":
        db.session.rollback()
        raise RequestClosed(row.ref, row.status)
    if not _holds(row, staff_id, now):
        db.session.rollback()
        raise NotHolder(row.ref)


def _staff_name(staff: StaffUser | None) -> str:
    return (staff.name or staff.email) if staff is not None else "someone"


# --- staff -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UrgentWaiting:
    """Urgent requests nobody is working on: how many, and the oldest of them."""

    count: int
    request_id: int
    ref: str
    age: timedelta


def urgent_waiting(now: datetime | None = None) -> UrgentWaiting | None:
    """Open urgent (danger) requests with no live claim, for the banner on every staff page.

    Two indexed reads; None when there is nothing waiting.
    """
    now = now_utc(now)
    waiting = (CallbackRequest.status == "open", CallbackRequest.priority == URGENT,
               or_(CallbackRequest.claimed_by_id.is_(None),
                   CallbackRequest.claim_expires_at.is_(None),
                   CallbackRequest.claim_expires_at <= now))
    oldest = db.session.execute(
        select(CallbackRequest.id, CallbackRequest.ref, CallbackRequest.created_at)
        .where(*waiting).order_by(CallbackRequest.created_at, CallbackRequest.id)
        .limit(1)).first()
    if oldest is None:
        return None
    count = db.session.scalar(select(db.func.count()).select_from(CallbackRequest)
                              .where(*waiting)) or 0
    return UrgentWaiting(count, oldest.id, oldest.ref,
                         max(now - (utc(oldest.created_at) or now), timedelta(0)))


def claim(request_id: int, staff_id: int, now: datetime | None = None) -> ClaimResult:
    """Take the request for ``claim_minutes`` so nobody else calls the same person.

    One conditional UPDATE decides: it succeeds only if the request is open and
    unclaimed, its claim expired, or this staff member already holds it (then
    the claim is renewed). Otherwise ``ClaimConflict`` names the holder;
    ``RequestClosed`` or ``RequestNotFound`` say why not; ``ClaimLimit`` when the
    staff member already holds ``max_claims`` others.
    """
    now = now_utc(now)
    cfg = settings()
    expires = now + cfg.claim
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise RequestNotFound(request_id)
    _active_staff(staff_id)
    reveals.check_claims(staff_id, request_id, now, cfg.max_claims)
    before = db.session.execute(
        select(CallbackRequest.claimed_by_id, CallbackRequest.claim_expires_at)
        .where(CallbackRequest.id == request_id)).one_or_none()
    won = db.session.execute(
        update(CallbackRequest)
        .where(CallbackRequest.id == request_id, CallbackRequest.status == "open",
               or_(CallbackRequest.claimed_by_id.is_(None),
                   CallbackRequest.claim_expires_at.is_(None),
                   CallbackRequest.claim_expires_at <= now,
                   CallbackRequest.claimed_by_id == staff_id))
        .values(claimed_by_id=staff_id, claim_expires_at=expires)
        .returning(CallbackRequest.ref)
        .execution_options(synchronize_session=False)).first()
    if won is None:
        db.session.rollback()
        row = db.session.get(CallbackRequest, request_id)
        if row is None:
            raise RequestNotFound(request_id)
        if row.status != "open":
            raise RequestClosed(row.ref, row.status)
        raise ClaimConflict(row.ref, _staff_name(row.claimed_by), utc(row.claim_expires_at))
    renewed = before is not None and before[0] == staff_id and (utc(before[1]) or now) > now
    if not renewed:
        _event(request_id, "claimed", now, staff_id)
        db.session.add(AuditLog(at=now, staff_id=staff_id, action="claim_callback",
                                target=f"callback_request:{request_id}", detail=f"ref {won[0]}"))
    elif reassigned_to_holder(request_id):
        _event(request_id, "claimed", now, staff_id, detail="accepted")  # ends the notice
    db.session.commit()
    return ClaimResult(request_id, won[0], staff_id, expires, renewed)


def reassigned_to_holder(request_id: int) -> bool:
    """Whether the request's holder got it from a supervisor and has not taken it up yet."""
    last = db.session.scalar(
        select(CallbackEvent.kind)
        .where(CallbackEvent.request_id == request_id,
               CallbackEvent.kind.in_(("claimed", "reassigned")))
        .order_by(CallbackEvent.id.desc()).limit(1))
    return last == "reassigned"


def release(request_id: int, staff_id: int, now: datetime | None = None) -> None:
    """Give the request back to the queue. Releasing what nobody holds is a no-op."""
    now = now_utc(now)
    row = _locked(request_id)
    if row.claimed_by_id is None or not _holds(row, row.claimed_by_id, now):
        row.claimed_by_id = row.claim_expires_at = None
        db.session.commit()
        return
    if row.claimed_by_id != staff_id:
        db.session.rollback()
        raise NotHolder(row.ref)
    row.claimed_by_id = row.claim_expires_at = None
    _event(row.id, "released", now, staff_id)
    db.session.commit()


def reveal_phone(request_id: int, staff_id: int, now: datetime | None = None) -> str:
    """The full number, for the staff member holding the claim only; audited every time.

    Beyond ``reveals_per_hour`` in the last hour a supervisor must approve:
    ``reveals.RevealLimit`` says one was asked.
    """
    now = now_utc(now)
    row = _locked(request_id)
    _require_holder(row, staff_id, now)
    approval = reveals.check_reveal(staff_id, row.id, row.ref, now, settings().reveals_per_hour)
    phone = db.session.scalar(select(Contact.phone).where(Contact.id == row.contact_id))
    detail = f"ref {row.ref}; {approval}" if approval else f"ref {row.ref}"
    db.session.add(AuditLog(at=now, staff_id=staff_id, action="reveal_phone",
                            target=f"callback_request:{row.id}", detail=detail))
    _event(row.id, "phone_revealed", now, staff_id)
    db.session.commit()
    return phone or ""


def _counted_tries(row: CallbackRequest) -> list[datetime]:
    """When the counted unanswered tries since the request was last (re)opened were made."""
    reopened = db.session.scalar(
        select(db.func.max(CallbackEvent.id))
        .where(CallbackEvent.request_id == row.id, CallbackEvent.kind == "reopened")) or 0
    return [utc(at) for at in db.session.scalars(  # type: ignore[misc]
        select(CallbackEvent.at)
        .where(CallbackEvent.request_id == row.id, CallbackEvent.kind == "attempt",
               CallbackEvent.detail.in_(UNANSWERED), CallbackEvent.id > reopened))]


def _unreachable(tries: list[datetime], cfg: Settings) -> bool:
    """Enough unanswered tries, and on enough different working days: one bad afternoon
    (the caller's phone off, a network outage) never closes a request."""
    days = {at.astimezone(cfg.week.tz).date() for at in tries}
    return len(tries) >= cfg.max_attempts and len(days) >= cfg.unreachable_days


def log_attempt(request_id: int, staff_id: int, result: str, note: str = "",
                now: datetime | None = None, *, confirm_early: bool | None = None
                ) -> AttemptResult:
    """Record one call attempt by the claim holder.

    ``no_answer``, ``busy`` and ``not_safe`` schedule the next try after the
    ``retry_minutes`` backoff (working time of the caller's schedule) and release
    the claim. An unanswered try before the scheduled retry raises ``EarlyAttempt``
    unless ``confirm_early`` says whether it counts (``False``: logged, not
    counted). The request becomes ``unreachable`` after ``max_attempts`` counted
    tries spread over ``unreachable_days`` working days. ``reached`` and
    ``wrong_number`` keep the claim: the holder goes on to ``resolve``.
    """
    now = now_utc(now)
    _check(result, ATTEMPT_RESULTS, "result")
    text = _note(note)
    row = _locked(request_id)
    _require_holder(row, staff_id, now)
    detail = result
    due = utc(row.next_attempt_at)
    if result in UNANSWERED and row.attempts and due is not None and due > now:
        if confirm_early is None:
            db.session.rollback()
            raise EarlyAttempt(row.ref, due)
        if not confirm_early:
            detail = result + UNCOUNTED
    outcome = _attempt(row, staff_id, result, detail, text, now)
    db.session.commit()
    return outcome


def _attempt(row: CallbackRequest, staff_id: int, result: str, detail: str, note: str,
             now: datetime) -> AttemptResult:
    """The attempt's effects on a locked row the caller commits."""
    cfg = settings()
    row.attempts += 1
    row.first_attempt_at = row.first_attempt_at or now
    row.updated_at = now
    _event(row.id, "attempt", now, staff_id, detail=detail, note=note)
    kept = result not in RETRY_RESULTS
    if kept:
        row.claim_expires_at = now + cfg.claim
        row.next_attempt_at = None
    else:
        row.claimed_by_id = row.claim_expires_at = None
        db.session.flush()
        tries = _counted_tries(row)
        if result in UNANSWERED and detail == result and _unreachable(tries, cfg):
            row.status, row.outcome, row.resolved_at = "unreachable", "unreachable", now
            row.next_attempt_at = None
            days = len({at.astimezone(cfg.week.tz).date() for at in tries})
            _event(row.id, "unreachable", now,
                   detail=f"{len(tries)} attempts without answer on {days} days")
        else:
            backoff = cfg.retry[min(max(len(tries), 1), len(cfg.retry)) - 1]
            schedule = cfg.schedule(row.safe_to_call, row.safe_times)
            row.next_attempt_at = schedule.add(now, backoff).astimezone(UTC)
            _event(row.id, "rescheduled", now,
                   detail=row.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC"))
    return AttemptResult(row.id, row.ref, row.status, row.attempts, utc(row.next_attempt_at),
                         kept and row.status == "open")


@dataclass(frozen=True)
class CallRecord:
    """One call as staff log it; only ``result`` is always needed.

    When the caller was reached: ``outcome`` (required) closes the request with
    ``referral`` and an optional ``follow_up`` date; ``reason`` and ``language``
    complete a missed call (or a request whose reason was "other"). A wrong number
    closes it too, with that outcome.
    """

    result: str
    outcome: str | None = None
    referral: str | None = None
    follow_up: date | None = None
    reason: str | None = None
    language: str | None = None
    note: str = ""
    confirm_early: bool | None = None


def record_call(request_id: int, staff_id: int, record: CallRecord,
                now: datetime | None = None, languages: tuple[str, ...] = ("ar", "en")
                ) -> AttemptResult:
    """Log a call and, when the caller was reached, close the request: one form, one note.

    Everything is checked before anything is written, so a refused form leaves
    no half-logged call behind.
    """
    now = now_utc(now)
    _check(record.result, ATTEMPT_RESULTS, "result")
    text = _note(record.note)
    if record.result not in ("reached", "wrong_number"):
        return log_attempt(request_id, staff_id, record.result, text, now,
                           confirm_early=record.confirm_early)
    outcome = "wrong_number" if record.result == "wrong_number" else record.outcome
    if not outcome:
        raise InvalidChoice("say what came of the call (outcome)", "outcome", "required")
    _check(outcome, OUTCOMES, "outcome")
    referral = _check(record.referral or "none", REFERRALS, "referral")
    if record.reason is not None:
        _check(record.reason, REASONS[:-1], "reason")
    if record.language is not None:
        _check(record.language, languages, "language")
    today = now.astimezone(settings().week.tz).date()
    if record.follow_up is not None and not (
            today <= record.follow_up <= today + timedelta(days=366)):
        raise InvalidChoice("the follow-up date must be within the coming year", "follow_up",
                            "range")
    row = _locked(request_id)
    _require_holder(row, staff_id, now)
    if record.reason and row.reason in ("unknown", "other") and record.reason != row.reason \
            or record.language and row.language != record.language:
        if record.reason and row.reason in ("unknown", "other"):
            row.reason = record.reason
        row.language = record.language or row.language
        _event(row.id, "details", now, staff_id,
               detail=f"staff: {row.reason}, {row.language or 'unknown'}")
    _attempt(row, staff_id, record.result, record.result, "", now)
    row.status, row.outcome, row.referral = "resolved", outcome, referral
    row.follow_up_on = record.follow_up
    row.resolved_at = row.updated_at = now
    row.claimed_by_id = row.claim_expires_at = row.next_attempt_at = None
    follow = f"; follow-up {record.follow_up.isoformat()}" if record.follow_up else ""
    _event(row.id, "resolved", now, staff_id,
           detail=f"{outcome}; referral: {referral}{follow}", note=text)
    db.session.commit()
    return AttemptResult(row.id, row.ref, row.status, row.attempts, None, False)


def reopen(request_id: int, supervisor_id: int, reason: str,
           now: datetime | None = None) -> None:
    """A supervisor opens a closed request again, saying why; audited.

    Earlier unanswered tries no longer count towards "unreachable". A request
    the caller withdrew stays closed: they chose to leave.
    """
    now = now_utc(now)
    text = _note(reason)
    if not text:
        raise InvalidChoice("say why the request is reopened", "reason", "required")
    _active_staff(supervisor_id)
    row = _locked(request_id)
    if row.status not in REOPENABLE:
        db.session.rollback()
        raise RequestClosed(row.ref, row.status) if row.status != "open" \
            else InvalidChoice(f"request {row.ref} is open already", "", "already_open")
    before = row.status
    row.status, row.outcome, row.referral, row.resolved_at = "open", None, None, None
    row.follow_up_on = None
    row.updated_at = row.next_attempt_at = now
    _event(row.id, "reopened", now, supervisor_id, detail=f"was {before}", note=text)
    db.session.add(AuditLog(at=now, staff_id=supervisor_id, action="reopen_callback",
                            target=f"callback_request:{row.id}",
                            detail=f"ref {row.ref} was {before}"))
    db.session.commit()


def resolve(request_id: int, staff_id: int, outcome: str, referral: str = "none",
            note: str = "", now: datetime | None = None) -> None:
    """Close the request with an outcome and a referral; only the claim holder may."""
    now = now_utc(now)
    _check(outcome, OUTCOMES, "outcome")
    _check(referral, REFERRALS, "referral")
    text = _note(note)
    row = _locked(request_id)
    _require_holder(row, staff_id, now)
    row.status, row.outcome, row.referral = "resolved", outcome, referral
    row.resolved_at = row.updated_at = now
    row.claimed_by_id = row.claim_expires_at = row.next_attempt_at = None
    _event(row.id, "resolved", now, staff_id, detail=f"{outcome}; referral: {referral}",
           note=text)
    db.session.commit()


def reassign(request_id: int, supervisor_id: int, to_staff_id: int,
             now: datetime | None = None) -> ClaimResult:
    """Hand the claim to another (active) staff member, whoever holds it now.

    Role checks are the dashboard's; this checks that the target can work.
    """
    now = now_utc(now)
    target = _active_staff(to_staff_id)
    reveals.check_claims(target.id, request_id, now, settings().max_claims)
    row = _locked(request_id)
    if row.status != "open":
        db.session.rollback()
        raise RequestClosed(row.ref, row.status)
    expires = now + settings().claim
    row.claimed_by_id, row.claim_expires_at = target.id, expires
    _event(row.id, "reassigned", now, supervisor_id, detail=f"to {_staff_name(target)}")
    db.session.add(AuditLog(at=now, staff_id=supervisor_id, action="reassign_callback",
                            target=f"callback_request:{row.id}",
                            detail=f"ref {row.ref} to staff {target.id}"))
    db.session.commit()
    return ClaimResult(row.id, row.ref, target.id, expires, False)


def _active_staff(staff_id: int) -> StaffUser:
    staff = db.session.get(StaffUser, staff_id) \
        if isinstance(staff_id, int) and not isinstance(staff_id, bool) else None
    if staff is None or not staff.active:
        raise UnknownStaff(f"no active staff member {staff_id!r}")
    return staff


def expire_claims(now: datetime | None = None) -> str:
    """Sweep: return claims nobody renewed to the queue, with a timeline line each."""
    now = now_utc(now)
    stale = db.session.execute(
        select(CallbackRequest.id, CallbackRequest.claimed_by_id)
        .where(CallbackRequest.claimed_by_id.is_not(None),
               CallbackRequest.claim_expires_at <= now)
        .with_for_update(skip_locked=True)).all()
    if stale:
        db.session.execute(
            update(CallbackRequest).where(CallbackRequest.id.in_([r[0] for r in stale]))
            .values(claimed_by_id=None, claim_expires_at=None)
            .execution_options(synchronize_session=False))
    for request_id, holder in stale:
        _event(request_id, "claim_expired", now, holder)
    db.session.commit()
    return f"callbacks: {len(stale)} expired claim(s) released"
