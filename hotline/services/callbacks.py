"""Callback requests: how callers ask (USSD, missed call) and what staff do with them.

A request is never deleted, only closed (resolved, unreachable, withdrawn); every
change adds a line to its timeline. Exactly one staff member may work a request
at a time: a claim is taken with one conditional UPDATE, so two clicks at the
same moment cannot both win. Phone numbers leave this module masked, except
through ``reveal_phone``, which only the claim holder may call and which is
written to the audit log.

Functions take ids and plain values, return frozen dataclasses, commit their
own work and raise the ``CallbackError`` subclasses below; they need an app
context (settings and the database) but never a request.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from hotline.errors import ConfigError, HotlineError
from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, Contact, StaffUser
from hotline.services import contacts, oncall, reveals
from hotline.services.outbox import queue_sms
from hotline.worktime import WorktimeError, WorkWeek, day_word

log = logging.getLogger(__name__)

# --- vocabulary ------------------------------------------------------------------------------

REASONS = ("danger", "medical", "counselling", "avrr", "info", "resettlement", "other",
           "unknown")  # unknown: a missed call, nobody said why yet
CHANNELS = ("ussd", "missed_call", "sms")
STATUSES = ("open", "resolved", "unreachable", "withdrawn")
SAFE_TO_CALL = ("yes", "times", "unknown")  # unknown: a missed call, nobody asked
ATTEMPT_RESULTS = ("reached", "no_answer", "busy", "wrong_number", "not_safe")
RETRY_RESULTS = ("no_answer", "busy", "not_safe")  # the claim is released, a retry scheduled
UNANSWERED = ("no_answer", "busy")  # these count towards "unreachable"
# An unanswered try logged before the retry was due, and not confirmed: kept on the
# timeline, never counted (four clicks in a minute must not close a request).
UNCOUNTED = "_early"
REOPENABLE = ("resolved", "unreachable")  # withdrawn: the caller left; nobody calls them again
OUTCOMES = ("helped", "information_given", "referred", "appointment_made", "declined",
            "wrong_number", "duplicate", "other")
REFERRALS = ("counselling", "medical", "avrr", "protection", "other", "none")
URGENT, NORMAL = 0, 1
REF_ALPHABET = "23456789"  # read aloud in any language; no 0/O or 1/I/l to confuse
NOTE_MAX = 2000


# --- errors ----------------------------------------------------------------------------------

class CallbackError(HotlineError):
    """A staff action on a callback request that cannot be done; the message says why."""


class RequestNotFound(CallbackError):
    def __init__(self, request_id: object) -> None:
        super().__init__(f"no callback request {request_id!r}")


class RequestClosed(CallbackError):
    def __init__(self, ref: str, status: str) -> None:
        self.ref, self.status = ref, status
        super().__init__(f"request {ref} is already {status}")


class ClaimConflict(CallbackError):
    """Someone else holds the claim; ``holder`` is their name (or e-mail)."""

    def __init__(self, ref: str, holder: str, expires_at: datetime | None) -> None:
        self.ref, self.holder, self.expires_at = ref, holder, expires_at
        super().__init__(f"request {ref} is being handled by {holder}")


class NotHolder(CallbackError):
    """Only the staff member holding a live claim may do this."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(f"claim request {ref} first: only the person holding it may do this")


class InvalidChoice(CallbackError):
    """A value outside its vocabulary (reason, result, outcome...) or a note too long.

    ``field`` and ``problem`` name it for a translated message: ``(what, "choice")``
    for a value outside its vocabulary, or ``"too_long"``, ``"missing"``, ``"range"``.
    """

    def __init__(self, message: str, field: str = "", problem: str = "") -> None:
        self.field, self.problem = field, problem
        super().__init__(message)


class UnknownStaff(CallbackError):
    """The staff member does not exist or is not active."""


class EarlyAttempt(CallbackError):
    """An unanswered try before the scheduled retry: staff must say whether it counts."""

    def __init__(self, ref: str, due_at: datetime) -> None:
        self.ref, self.due_at = ref, due_at
        super().__init__(f"the next try of request {ref} is not due yet")


# --- settings --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The ``[callbacks]`` section, parsed once per app."""

    week: WorkWeek
    windows: Mapping[str, tuple[time, time]]
    urgent_reasons: frozenset[str]
    urgent_hours: timedelta
    normal_days: float
    claim: timedelta
    ring_window: timedelta
    retry: tuple[timedelta, ...]
    max_attempts: int
    max_claims: int = 5  # claims one staff member may hold at once
    reveals_per_hour: int = 10  # numbers one staff member may reveal per hour unapproved
    unreachable_days: int = 2  # unanswered tries must spread over this many working days

    def schedule(self, safe_to_call: str, safe_times: str) -> WorkWeek:
        """When staff may call this caller: working hours, or the caller's chosen windows."""
        chosen = [self.windows[w] for w in safe_times.split(",") if w in self.windows]
        if safe_to_call == "times" and chosen:
            return self.week.with_spans(chosen)
        return self.week

    def deadline(self, created_at: datetime, priority: int, schedule: WorkWeek) -> datetime:
        amount = self.urgent_hours if priority == URGENT else schedule.day_length * self.normal_days
        return schedule.add(created_at, amount).astimezone(UTC)


def parse_settings(config: Mapping[str, Any]) -> Settings:
    """Settings from app config; every problem raises ``ConfigError`` listing them all."""
    raw = dict(config.get("CALLBACKS") or {})
    problems: list[str] = []

    def number(key: str, default: float, whole: bool = True) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                or (whole and not isinstance(value, int)):
            problems.append(f"[callbacks] {key} must be a positive number, got {value!r}")
            return default
        return value

    week = None
    windows: dict[str, tuple[time, time]] = {}
    try:
        week = WorkWeek.build(str(config.get("TIMEZONE") or "Africa/Khartoum"),
                              raw.get("work_days", ["sun", "mon", "tue", "wed", "thu"]),
                              [raw.get("work_hours", "08:00-15:00")], raw.get("holidays", []))
        for name, span in dict(raw.get("windows") or {}).items():
            windows[str(name)] = week.with_spans([span]).spans[0]
    except (WorktimeError, TypeError) as exc:
        problems.append(f"[callbacks] {exc}")
    retry = raw.get("retry_minutes", [30, 120, 420])
    if not isinstance(retry, list) or not retry or not all(
            isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in retry):
        problems.append(f"[callbacks] retry_minutes must be a list of positive whole minutes, "
                        f"got {retry!r}")
        retry = [30]
    urgent = raw.get("urgent_reasons", ["danger"])
    if not isinstance(urgent, list) or not set(urgent) <= set(REASONS):
        problems.append(f"[callbacks] urgent_reasons must be a list from {REASONS}")
        urgent = ["danger"]
    settings: dict[str, Any] = dict(
        urgent_hours=timedelta(hours=number("urgent_hours", 2, whole=False)),
        normal_days=number("normal_days", 1, whole=False),
        claim=timedelta(minutes=number("claim_minutes", 15)),
        ring_window=timedelta(minutes=number("ring_window_minutes", 30)),
        max_attempts=int(number("max_attempts", 4)),
        max_claims=int(number("max_claims", 5)),
        reveals_per_hour=int(number("reveals_per_hour", 10)),
        unreachable_days=int(number("unreachable_days", 2)),
    )
    if problems or week is None:
        raise ConfigError(problems)
    return Settings(week=week, windows=windows, urgent_reasons=frozenset(urgent),
                    retry=tuple(timedelta(minutes=m) for m in retry), **settings)


def settings() -> Settings:
    """This app's callback settings (parsed on first use, then kept with the app)."""
    ext = current_app.extensions
    if "hotline.callbacks" not in ext:
        ext["hotline.callbacks"] = parse_settings(current_app.config)
    return ext["hotline.callbacks"]


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

def utc(at: datetime | None) -> datetime | None:
    """Aware UTC; SQLite (development) hands back naive datetimes that are UTC already."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def clock() -> datetime:
    """The current time in UTC; tests replace it to stand on a chosen Thursday afternoon."""
    return datetime.now(UTC)


def now_utc(now: datetime | None = None) -> datetime:
    """``now`` as aware UTC, or the clock's time when not given."""
    return utc(now) if now is not None else clock()  # type: ignore[return-value]



def _event(request_id: int, kind: str, at: datetime, staff_id: int | None = None,
           detail: str = "", note: str = "") -> None:
    db.session.add(CallbackEvent(request_id=request_id, kind=kind, at=at, staff_id=staff_id,
                                 detail=detail[:200], note=note))


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidChoice(f"{what} must be one of {', '.join(allowed)}, got {value!r}"[:300],
                            what, "choice")
    return value


def _note(note: str | None) -> str:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidChoice(f"note is too long ({len(text)} characters, at most {NOTE_MAX})",
                            "note", "too_long")
    return text


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
    return list(db.session.scalars(
        select(CallbackRequest).where(CallbackRequest.contact_id == contact_id,
                                      CallbackRequest.status == "open")
        .order_by(CallbackRequest.created_at, CallbackRequest.id)))


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
        raise InvalidChoice(f"safe_times must name one of {', '.join(cfg.windows)}")
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
    row = min(rows, key=lambda r: (r.priority, utc(r.created_at)))
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
        row = min(open_rows, key=lambda r: (r.priority, utc(r.created_at)))
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
    row = min(open_rows, key=lambda r: (r.priority, utc(r.created_at))) if open_rows \
        else _new_unknown(contact, "sms", now)
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
                   CallbackRequest.claim_expires_at < now))
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
                   CallbackRequest.claim_expires_at < now,
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
        raise InvalidChoice("say what came of the call (outcome)", "outcome", "missing")
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
        raise InvalidChoice("say why the request is reopened", "reason", "missing")
    _active_staff(supervisor_id)
    row = _locked(request_id)
    if row.status not in REOPENABLE:
        db.session.rollback()
        raise RequestClosed(row.ref, row.status) if row.status != "open" \
            else InvalidChoice(f"request {row.ref} is open already")
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
               CallbackRequest.claim_expires_at < now)
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
