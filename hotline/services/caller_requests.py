"""Callback requests from the caller's side: asking (USSD, a missed call, a text
staff turn into a request), seeing one's open request, cancelling, and the silent exit.

A request is never deleted, only closed; every change adds a line to its
timeline. Requests of one caller are created one at a time (their contact row is
locked), and asking again updates the open request rather than adding one: a
repeated hop or a replayed session changes nothing. What staff do with a request
is in ``casework``; the vocabulary and settings in ``callback_policy``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from hotline.errors import HotlineError
from hotline.extensions import db
from hotline.models import CallbackRequest, Contact
from hotline.services import contacts, oncall
from hotline.services.callback_policy import (
    CHANNELS,
    NORMAL,
    REASONS,
    REF_ALPHABET,
    SAFE_TO_CALL,
    URGENT,
    InvalidChoice,
    RequestNotFound,
    Settings,
    _check,
    _event,
    now_utc,
    settings,
    utc,
)
from hotline.services.outbox import queue_sms
from hotline.worktime import day_word

log = logging.getLogger(__name__)


# --- results ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Submission:
    """What the caller is told: the reference and when to expect the call."""

    request_id: int
    ref: str
    created: bool  # False: an open request was updated (a repeat or a replayed session)
    expect_day: str  # today | tomorrow | sun..sat (a content key suffix, not text)
    expect_until: str  # HH:MM, local time


@dataclass(frozen=True)
class OpenRequest:
    """A caller's open request, as "My call request" shows it."""

    request_id: int
    ref: str
    expect_day: str  # today | tomorrow | sun..sat
    expect_until: str  # HH:MM, local time


@dataclass(frozen=True)
class RingResult:
    request_id: int
    ref: str
    created: bool
    counted: bool  # False: a repeat ring inside the window, or the same call notified twice



# --- helpers ---------------------------------------------------------------------------------

def new_ref(length: int = 7) -> str:
    """A reference no other request has; collisions are retried, not trusted to luck."""
    for _ in range(20):
        candidates = ["".join(secrets.choice(REF_ALPHABET) for _ in range(length))
                      for _ in range(5)]
        taken = set(db.session.scalars(select(CallbackRequest.ref)
                                       .where(CallbackRequest.ref.in_(candidates))))
        free = [c for c in candidates if c not in taken]
        if free:
            return free[0]
        length += 1
    raise HotlineError("no free callback reference")  # pragma: no cover


def _insert(row: CallbackRequest) -> None:
    """Add a new request, choosing another reference if a concurrent insert took ours."""
    for _ in range(5):
        row.ref = new_ref()
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
            return
        except IntegrityError:  # the savepoint rolled back and left ``row`` transient
            continue
    raise HotlineError("could not store the callback request")  # pragma: no cover


def _lock_contact(phone: str) -> Contact:
    """The caller's contact row, locked: requests of one caller are created one at a time."""
    contact = contacts.get_or_create(phone)
    db.session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    return contact


def _open_for(contact_id: int) -> list[CallbackRequest]:
    """The caller's open requests, the one staff call first (most urgent, then oldest)
    first: a ring, a text or "my call request" concerns that one."""
    return list(db.session.scalars(
        select(CallbackRequest).where(CallbackRequest.contact_id == contact_id,
                                      CallbackRequest.status == "open")
        .order_by(CallbackRequest.priority, CallbackRequest.created_at, CallbackRequest.id)))


def _link_earlier(row: CallbackRequest, now: datetime) -> None:
    """A returning caller's new request names their last closed one; nothing is reopened."""
    earlier = db.session.scalar(
        select(CallbackRequest.ref)
        .where(CallbackRequest.contact_id == row.contact_id, CallbackRequest.id != row.id,
               CallbackRequest.status != "open")
        .order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc()).limit(1))
    if earlier:
        _event(row.id, "linked", now, detail=earlier)


def _confirmation(lang: str | None, ref: str) -> str:
    """The neutral SMS text (reference only, no reason, no organisation), in the caller's
    language; queued in the outbox with the request (``submit``)."""
    catalog = current_app.extensions["hotline.catalog"]
    lang = lang if lang in catalog.languages else current_app.config["DEFAULT_LANGUAGE"]
    return catalog.render(lang, "sms.callback.confirm",
                          {**current_app.config["CENTRE"], "ref": ref})


# --- callers ---------------------------------------------------------------------------------

def submit(phone: str, *, reason: str, safe_to_call: str, safe_times: str = "",
           sms_ok: bool | None = None, language: str | None = None, channel: str = "ussd",
           now: datetime | None = None) -> Submission:
    """Record a caller's request and commit it, before the caller is told anything.

    Idempotent: an open request of this caller for the same reason is updated,
    not duplicated (a repeated hop, a replayed session, a second dial). An open
    missed-call request (reason unknown) is completed with these answers.
    """
    now = now_utc(now)
    cfg = settings()
    _check(reason, REASONS[:-1], "reason")
    _check(safe_to_call, SAFE_TO_CALL[:-1], "safe_to_call")
    _check(channel, CHANNELS, "channel")
    times = ",".join(t for t in cfg.windows if t in safe_times.split(",")) \
        if safe_to_call == "times" else ""
    if safe_to_call == "times" and not times:
        raise InvalidChoice(f"safe_times must name one of {', '.join(cfg.windows)}",
                            "safe_times", "choice")
    priority = URGENT if reason in cfg.urgent_reasons else NORMAL
    contact = _lock_contact(phone)
    contact.exited_at = None  # asking for a call again undoes an earlier "stop everything"
    open_rows = _open_for(contact.id)
    row = next((r for r in open_rows if r.reason == reason), None) \
        or next((r for r in open_rows if r.reason == "unknown"), None)
    created = row is None
    if row is None:
        row = CallbackRequest(contact_id=contact.id, channel=channel, reason=reason,
                              created_at=now, updated_at=now, status="open", attempts=0, rings=0)
    before = None if created else (row.reason, row.safe_to_call, row.safe_times, row.sms_ok,
                                   row.language)
    completed_missed_call = not created and row.reason == "unknown"
    row.reason, row.priority, row.language = reason, priority, language
    row.safe_to_call, row.safe_times, row.sms_ok = safe_to_call, times, sms_ok
    schedule = cfg.schedule(safe_to_call, times)
    created_at = utc(row.created_at) or now
    row.deadline_at = cfg.deadline(created_at, priority, schedule)
    if row.attempts == 0:  # from created_at, so a replay computes the same values
        row.next_attempt_at = schedule.next_open(created_at).astimezone(UTC)
    if created:
        row.sms_confirmation = None
        _insert(row)
    if sms_ok:
        row.sms_confirmation = _confirmation(language, row.ref)
    else:
        row.sms_confirmation = None
    changed = before != (row.reason, row.safe_to_call, row.safe_times, row.sms_ok, row.language)
    if created:
        _event(row.id, "created", now, detail=f"{channel}: {reason}")
        _link_earlier(row, now)
    elif completed_missed_call:
        _event(row.id, "details", now, detail=f"{channel}: {reason}")
    elif changed:
        _event(row.id, "updated", now, detail=f"{channel}: asked again")
    if created or changed:
        row.updated_at = now
    # Sent once per request, in the caller's language; by SMS the conversation's last
    # reply already is the confirmation.
    if row.sms_confirmation and channel != "sms":
        queue_sms(db.session, to=phone, body=row.sms_confirmation,
                  language=language or current_app.config["DEFAULT_LANGUAGE"],
                  priority="reply", kind="confirmation",
                  idempotency_key=f"callback-confirmation-{row.id}", contact_id=contact.id,
                  callback_request_id=row.id)
    if created:
        oncall.after_hours(db.session, row, cfg.week, now)
    # Read before the commit: reading a row after it reloads it, and a database lost in
    # between would tell the caller "cannot serve" about a request that is stored.
    request_id, ref, expectation = row.id, row.ref, _expectation(row, now, cfg)
    _commit_or_verify(ref, utc(row.updated_at) or now)
    return Submission(request_id, ref, created, *expectation)


def _expectation(row: CallbackRequest, now: datetime, cfg: Settings) -> tuple[str, str]:
    """The day word and local time before which the caller may expect the call."""
    expect = utc(row.deadline_at)
    if expect is None or expect <= now:  # already late: promise the urgent delay from now on
        expect = cfg.schedule(row.safe_to_call, row.safe_times).add(now, cfg.urgent_hours)
    return day_word(now, expect, cfg.week.tz), expect.astimezone(cfg.week.tz).strftime("%H:%M")


def open_request(phone: str, now: datetime | None = None) -> OpenRequest | None:
    """The caller's most urgent open request (the oldest first), or None."""
    now = now_utc(now)
    contact = contacts.find(phone)
    rows = _open_for(contact.id) if contact is not None else []
    if not rows:
        return None
    row = rows[0]
    return OpenRequest(row.id, row.ref, *_expectation(row, now, settings()))


def _withdraw(row: CallbackRequest, now: datetime, detail: str) -> None:
    row.status, row.resolved_at, row.updated_at = "withdrawn", now, now
    row.claimed_by_id = row.claim_expires_at = row.next_attempt_at = None
    row.sms_confirmation = None
    _event(row.id, "withdrawn", now, detail=detail)


def cancel_by_caller(phone: str, ref: str, now: datetime | None = None) -> bool:
    """The caller cancels one request by its reference; only their own, only while open.

    True when the request is (now, or already) withdrawn: a replayed session runs
    this again and must not fail.
    """
    now = now_utc(now)
    contact = contacts.find(phone)
    row = None if contact is None else db.session.scalars(
        select(CallbackRequest).where(CallbackRequest.ref == ref,
                                      CallbackRequest.contact_id == contact.id)
        .with_for_update()).one_or_none()
    if row is None:
        db.session.rollback()
        return False
    if row.status == "open":
        _withdraw(row, now, "the caller cancelled it (USSD)")
    db.session.commit()
    return row.status == "withdrawn"


def _commit_or_verify(ref: str, updated_at: datetime) -> None:
    """Commit; when the connection is lost during COMMIT, ask again on a fresh one.

    A lost COMMIT reply leaves the outcome unknown: the server may have stored the
    request. Telling that caller "cannot serve" would make the promise and the record
    disagree, so the row is looked for once more (within the hop's deadline) and the
    commit counts as done when the request is there as this transaction left it.
    """
    try:
        db.session.commit()
    except OperationalError:
        db.session.rollback()
        try:
            with db.engine.connect() as conn:
                stored = conn.scalar(select(CallbackRequest.updated_at)
                                     .where(CallbackRequest.ref == ref))
        except Exception:
            stored = None
        if stored is None or utc(stored) != updated_at:
            raise
        log.warning("request %s: COMMIT reply lost, the request is stored", ref)


def record_ring(phone: str, now: datetime | None = None) -> RingResult:
    """A missed call asks for a callback: create one, or refresh the caller's open request.

    Rings within ``ring_window_minutes`` of the last counted ring count once; the
    caller's open request of any reason is refreshed rather than duplicated.
    The caller commits (the voice call row goes in the same transaction).
    """
    now = now_utc(now)
    cfg = settings()
    contact = _lock_contact(phone)
    open_rows = _open_for(contact.id)
    if open_rows:
        row = open_rows[0]
        last = utc(row.last_ring_at)
        counted = last is None or now - last >= cfg.ring_window
        if counted:
            row.rings += 1
            row.last_ring_at = row.updated_at = now
            _event(row.id, "ring", now, detail=f"missed call ({row.rings})")
        return RingResult(row.id, row.ref, False, counted)
    row = _new_unknown(contact, "missed_call", now, rings=1)
    _event(row.id, "created", now, detail="missed call")
    _link_earlier(row, now)
    return RingResult(row.id, row.ref, True, True)


def _new_unknown(contact: Contact, channel: str, now: datetime, rings: int = 0
                 ) -> CallbackRequest:
    """A request nobody has said the reason of yet (a missed call, a text to staff)."""
    cfg = settings()
    schedule = cfg.week
    row = CallbackRequest(contact_id=contact.id, channel=channel, reason="unknown",
                          language=contact.language, safe_to_call="unknown", safe_times="",
                          sms_ok=None, status="open", priority=NORMAL, created_at=now,
                          updated_at=now, attempts=0, rings=rings,
                          last_ring_at=now if rings else None,
                          deadline_at=cfg.deadline(now, NORMAL, schedule),
                          next_attempt_at=schedule.next_open(now).astimezone(UTC))
    _insert(row)
    return row


def request_from_text(contact_id: int, staff_id: int, text: str,
                      now: datetime | None = None) -> tuple[int, str]:
    """Staff turn a caller's text into a callback request (or find their open one).

    The caller commits. Returns the request's id and reference; the text goes on its
    timeline, so whoever calls back reads what the caller wrote.
    """
    now = now_utc(now)
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise RequestNotFound(contact_id)
    db.session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    open_rows = _open_for(contact.id)
    row = open_rows[0] if open_rows else _new_unknown(contact, "sms", now)
    if not open_rows:
        _event(row.id, "created", now, staff_id=staff_id, detail="from a text message")
        _link_earlier(row, now)
    _event(row.id, "sms", now, staff_id=staff_id, detail="text message from the caller",
           note=text)
    return row.id, row.ref


def withdraw_for_phone(phone: str, now: datetime | None = None,
                       channel: str = "ussd") -> int:
    """The caller's silent exit: close their open requests and mark the number as exited
    (no calls, no messages), without telling anyone outside.

    Returns how many were withdrawn; no SMS, no confirmation, nothing to the caller.
    A later request of their own undoes the exit (``submit``).
    """
    now = now_utc(now)
    contact = contacts.find(phone)
    if contact is None:
        return 0
    db.session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    rows = list(db.session.scalars(
        select(CallbackRequest).where(CallbackRequest.contact_id == contact.id,
                                      CallbackRequest.status == "open").with_for_update()))
    for row in rows:
        _withdraw(row, now, f"the caller stopped everything ({channel})")
    contact.exited_at = contact.exited_at or now
    db.session.commit()
    return len(rows)
