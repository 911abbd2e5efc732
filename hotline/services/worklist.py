"""The staff worklist: pages, one request with its timeline and caller history, search,
and the CSV export.

Read-only views for the dashboard. Every phone number here is masked; the full
number comes only from ``casework.reveal_phone`` (and is shown again, without a
new audit entry, to the same holder while the claim it was revealed under lasts).
A page is two queries (the rows with their caller and claim holder joined in,
and a count), served by ``ix_callback_requests_worklist`` (status, priority,
deadline_at, id): what should be called first comes first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import aliased

from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, Contact, StaffUser
from hotline.privacy import caller_label, mask_phone
from hotline.services.callback_policy import (
    CHANNELS,
    REASONS,
    STATUSES,
    InvalidChoice,
    RequestNotFound,
    now_utc,
    settings,
    utc,
)

MAX_PER_PAGE = 200
ORDERS = ("queue", "newest")
HISTORY_MAX = 20  # earlier requests of one caller shown on a request page


@dataclass(frozen=True)
class QueueFilter:
    """What the queue page shows; ``None`` means any. Invalid values raise ``InvalidChoice``.

    ``order="queue"``: urgent first, then the earliest deadline (the worklist);
    ``order="newest"``: most recent first (for browsing closed requests).
    ``mine``: only what this staff member holds; ``callable``: only requests that
    can be called now (retry due, safe window open, nobody else holding them).
    """

    status: str = "open"  # open | resolved | unreachable | withdrawn | all
    reason: str | None = None
    language: str | None = None
    channel: str | None = None
    page: int = 1
    per_page: int = 50
    order: str = "queue"
    mine: int | None = None
    callable: bool = False


@dataclass(frozen=True)
class QueueItem:
    """One request as the queue shows it.

    ``time_left`` is ``deadline_at`` minus now while nobody has tried to call;
    once someone has, it is frozen at the first attempt (the deadline is for the
    first call). Negative means late: ``breached``. ``working_time_left`` is the
    same in working hours of the caller's schedule (what staff can still use).
    ``claimed_by`` is None when nobody holds a live claim.
    """

    id: int
    ref: str
    phone_masked: str
    reason: str
    language: str | None
    channel: str
    status: str
    priority: int  # 0 urgent, 1 normal
    created_at: datetime
    deadline_at: datetime
    time_left: timedelta
    working_time_left: timedelta
    breached: bool
    attempts: int
    first_attempt_at: datetime | None
    next_attempt_at: datetime | None
    safe_to_call: str  # yes | times | unknown (missed call)
    safe_times: tuple[str, ...]  # morning, afternoon, evening (when safe_to_call == "times")
    sms_ok: bool | None
    rings: int
    claimed_by_id: int | None
    claimed_by: str | None  # the holder's name, or e-mail when the name is empty
    claim_expires_at: datetime | None
    outcome: str | None
    referral: str | None
    resolved_at: datetime | None  # when it was closed, whatever the closing status
    contact_id: int
    caller: str  # the stable caller label (``4F7K``), never the number
    state: str  # callable | waiting | breached | closed
    waiting_for: str | None  # retry | window | hours: why a request cannot be called yet
    follow_up_on: date | None


@dataclass(frozen=True)
class QueuePage:
    items: tuple[QueueItem, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str  # created, details, updated, ring, claimed, released, claim_expired,
    # phone_revealed, attempt, rescheduled, unreachable, resolved, reassigned, withdrawn
    staff: str | None
    detail: str
    note: str
    staff_id: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier (or later) request of the same caller, with its timeline."""

    id: int
    ref: str
    created_at: datetime
    status: str
    reason: str
    channel: str
    attempts: int
    outcome: str | None
    referral: str | None
    events: tuple[TimelineEvent, ...]


@dataclass(frozen=True)
class RequestDetail:
    item: QueueItem
    timeline: tuple[TimelineEvent, ...]  # oldest first
    held_by_viewer: bool  # the viewer may reveal the number, log attempts and resolve
    sms_confirmation: str | None  # the neutral text written for the caller, if they agreed
    history: tuple[HistoryEntry, ...] = ()  # the caller's other requests, newest first
    phone: str | None = None  # the full number: revealed by this holder under this claim


def validate(filters: QueueFilter) -> None:
    """Raise ``InvalidChoice`` for a filter value outside its vocabulary."""

    def check(value: Any, allowed: tuple[str, ...], what: str) -> None:
        if value is not None and value not in allowed:
            raise InvalidChoice(f"{what} must be one of {', '.join(allowed)}")

    check(filters.status, (*STATUSES, "all"), "status")
    check(filters.reason, REASONS, "reason")
    check(filters.channel, CHANNELS, "channel")
    check(filters.order, ORDERS, "order")
    if filters.language is not None and (not isinstance(filters.language, str)
                                         or len(filters.language) > 8):
        raise InvalidChoice("language must be a short language code")
    for name, value, top in (("page", filters.page, 10**6),
                             ("per_page", filters.per_page, MAX_PER_PAGE)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise InvalidChoice(f"{name} must be a whole number from 1 to {top}")


Holder = aliased(StaffUser)


def _query(filters: QueueFilter) -> Select:
    query = (select(CallbackRequest, Contact.phone, Holder.name, Holder.email)
             .join(Contact, Contact.id == CallbackRequest.contact_id)
             .outerjoin(Holder, Holder.id == CallbackRequest.claimed_by_id))
    return _where(query, filters)


def _where(query: Select, filters: QueueFilter) -> Select:
    if filters.status != "all":
        query = query.where(CallbackRequest.status == filters.status)
    if filters.reason:
        query = query.where(CallbackRequest.reason == filters.reason)
    if filters.language:
        query = query.where(CallbackRequest.language == filters.language)
    if filters.channel:
        query = query.where(CallbackRequest.channel == filters.channel)
    return query


def _where_work(query: Select, filters: QueueFilter, now: datetime) -> Select:
    """``_where`` plus the worklist's own filters, which depend on the time."""
    query = _where(query, filters)
    if filters.mine is not None:
        query = query.where(CallbackRequest.claimed_by_id == filters.mine,
                            CallbackRequest.claim_expires_at > now)
    if filters.callable:
        query = query.where(CallbackRequest.status == "open",
                            *callable_now(now, filters.mine))
    return query


def callable_now(now: datetime, staff_id: int | None = None) -> tuple[Any, ...]:
    """Conditions of a request someone may call now: its retry is due or its window open,
    and nobody else holds a live claim on it."""
    free = or_(CallbackRequest.claimed_by_id.is_(None), CallbackRequest.claim_expires_at <= now)
    if staff_id is not None:
        free = or_(free, CallbackRequest.claimed_by_id == staff_id)
    return (or_(CallbackRequest.next_attempt_at.is_(None),
                CallbackRequest.next_attempt_at <= now), free)


def _ordered(query: Select, filters: QueueFilter) -> Select:
    if filters.order == "newest":
        return query.order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
    return query.order_by(CallbackRequest.priority, CallbackRequest.deadline_at,
                          CallbackRequest.id)


def _item(row: CallbackRequest, phone: str | None, name: str | None, email: str | None,
          now: datetime) -> QueueItem:
    cfg = settings()
    deadline = utc(row.deadline_at) or now
    first = utc(row.first_attempt_at)
    closed = utc(row.resolved_at)
    upto = first or (now if row.status == "open" else (closed or now))
    left = deadline - upto
    schedule = cfg.schedule(row.safe_to_call, row.safe_times)
    working = schedule.between(upto, deadline) if left >= timedelta() \
        else -schedule.between(deadline, upto)
    expires = utc(row.claim_expires_at)
    live = row.claimed_by_id is not None and expires is not None and expires > now
    due = utc(row.next_attempt_at)
    waiting_for = None
    if row.status == "open" and due is not None and due > now:
        waiting_for = "retry" if row.attempts else (
            "window" if row.safe_to_call == "times" else "hours")
    breached = left < timedelta()
    if row.status != "open":
        state = "closed"
    elif breached and first is None:
        state = "breached"
    elif waiting_for:
        state = "waiting"
    else:
        state = "callable"
    return QueueItem(
        id=row.id, ref=row.ref, phone_masked=mask_phone(phone), reason=row.reason,
        language=row.language, channel=row.channel, status=row.status, priority=row.priority,
        created_at=utc(row.created_at) or now, deadline_at=deadline, time_left=left,
        working_time_left=working, breached=breached, attempts=row.attempts,
        first_attempt_at=first, next_attempt_at=utc(row.next_attempt_at),
        safe_to_call=row.safe_to_call,
        safe_times=tuple(t for t in row.safe_times.split(",") if t), sms_ok=row.sms_ok,
        rings=row.rings, claimed_by_id=row.claimed_by_id if live else None,
        claimed_by=(name or email) if live else None, claim_expires_at=expires if live else None,
        outcome=row.outcome, referral=row.referral, resolved_at=closed,
        contact_id=row.contact_id, caller=label_of(row.contact_id), state=state,
        waiting_for=waiting_for, follow_up_on=row.follow_up_on)


def label_of(contact_id: int) -> str:
    """The caller label for the dashboard, keyed with this deployment's secret."""
    return caller_label(contact_id, current_app.config["SECRET_KEY"])


def list_queue(filters: QueueFilter | None = None, now: datetime | None = None) -> QueuePage:
    """One page of requests, urgent first then by deadline (see ``QueueFilter.order``)."""
    filters = filters or QueueFilter()
    validate(filters)
    now = now_utc(now)
    total = db.session.scalar(_where_work(select(func.count()).select_from(CallbackRequest),
                                          filters, now)) or 0
    # Page through the requests table alone, then join callers and holders to that page:
    # a deep page skips rows of one index, not rows of a three-table join.
    page = _ordered(_where_work(select(CallbackRequest.id), filters, now), filters) \
        .limit(filters.per_page).offset((filters.page - 1) * filters.per_page).subquery()
    query = _ordered(_query(filters).join(page, page.c.id == CallbackRequest.id), filters)
    items = tuple(_item(row, phone, name, email, now)
                  for row, phone, name, email in db.session.execute(query))
    return QueuePage(items, total, filters.page, filters.per_page)


def _timelines(request_ids: list[int], now: datetime) -> dict[int, list[TimelineEvent]]:
    """The timelines of some requests in one query, each oldest first."""
    found: dict[int, list[TimelineEvent]] = {i: [] for i in request_ids}
    if not request_ids:
        return found
    events = db.session.execute(
        select(CallbackEvent, StaffUser.name, StaffUser.email)
        .outerjoin(StaffUser, StaffUser.id == CallbackEvent.staff_id)
        .where(CallbackEvent.request_id.in_(request_ids))
        .order_by(CallbackEvent.at, CallbackEvent.id))
    for e, sname, semail in events:
        found[e.request_id].append(TimelineEvent(
            utc(e.at) or now, e.kind, (sname or semail) if e.staff_id else None, e.detail,
            e.note, e.staff_id))
    return found


def _revealed(timeline: list[TimelineEvent], viewer_id: int) -> bool:
    """Whether the viewer revealed the number since the claim they hold began."""
    for event in reversed(timeline):
        if event.kind == "phone_revealed" and event.staff_id == viewer_id:
            return True
        if event.kind in ("claimed", "reassigned", "released", "claim_expired", "rescheduled"):
            return False
    return False


def get_request(request_id: int, viewer_id: int | None = None,
                now: datetime | None = None) -> RequestDetail:
    """One request with its timeline and the caller's other requests; the phone stays
    masked unless the viewer holds the claim and revealed it under that claim."""
    now = now_utc(now)
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise RequestNotFound(request_id)
    found = db.session.execute(
        _query(QueueFilter(status="all")).where(CallbackRequest.id == request_id)).one_or_none()
    if found is None:
        raise RequestNotFound(request_id)
    row, phone, name, email = found
    item = _item(row, phone, name, email, now)
    others = list(db.session.scalars(
        select(CallbackRequest)
        .where(CallbackRequest.contact_id == row.contact_id, CallbackRequest.id != row.id)
        .order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
        .limit(HISTORY_MAX)))
    timelines = _timelines([request_id, *(o.id for o in others)], now)
    timeline = timelines[request_id]
    held = viewer_id is not None and item.claimed_by_id == viewer_id
    shown = phone if held and viewer_id is not None and _revealed(timeline, viewer_id) else None
    history = tuple(HistoryEntry(o.id, o.ref, utc(o.created_at) or now, o.status, o.reason,
                                 o.channel, o.attempts, o.outcome, o.referral,
                                 tuple(timelines[o.id])) for o in others)
    return RequestDetail(item, tuple(timeline), held, row.sms_confirmation, history, shown)


def reassigned_to(staff_id: int, now: datetime | None = None) -> tuple[QueueItem, ...]:
    """Requests a supervisor gave this staff member that they have not taken up yet."""
    now = now_utc(now)
    last_kind = (select(CallbackEvent.kind)
                 .where(CallbackEvent.request_id == CallbackRequest.id,
                        CallbackEvent.kind.in_(("claimed", "reassigned")))
                 .order_by(CallbackEvent.id.desc()).limit(1).scalar_subquery())
    query = _query(QueueFilter()).where(
        CallbackRequest.status == "open", CallbackRequest.claimed_by_id == staff_id,
        CallbackRequest.claim_expires_at > now, last_kind == "reassigned")
    return tuple(_item(row, phone, name, email, now)
                 for row, phone, name, email in db.session.execute(_ordered(query, QueueFilter())))


def next_candidates(staff_id: int, limit: int = 10, now: datetime | None = None) -> list[int]:
    """The most urgent callable requests nobody holds, first to call first."""
    now = now_utc(now)
    free = and_(CallbackRequest.status == "open", *callable_now(now))
    return list(db.session.scalars(
        select(CallbackRequest.id).where(free, or_(CallbackRequest.claimed_by_id.is_(None),
                                                   CallbackRequest.claimed_by_id != staff_id))
        .order_by(CallbackRequest.priority, CallbackRequest.deadline_at, CallbackRequest.id)
        .limit(limit)))


def find_by_ref(ref: str) -> int | None:
    """The request with this reference (as the caller reads it out: spaces allowed)."""
    digits = "".join(ch for ch in ref if not ch.isspace())
    if not digits.isascii() or not digits.isdigit() or not 4 <= len(digits) <= 12:
        return None
    return db.session.scalar(select(CallbackRequest.id).where(CallbackRequest.ref == digits))


def find_by_phone(phone: str, staff_id: int, now: datetime | None = None) -> int | None:
    """The newest request of the caller with this full number; audited whether found or not.

    Only supervisors may search by number (the dashboard checks the role).
    """
    now = now_utc(now)
    found = db.session.scalar(
        select(CallbackRequest.id).join(Contact, Contact.id == CallbackRequest.contact_id)
        .where(Contact.phone == phone)
        .order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc()).limit(1))
    db.session.add(AuditLog(at=now, staff_id=staff_id, action="search_phone",
                            target=f"callback_request:{found}" if found else "",
                            detail=f"{mask_phone(phone)}: {'found' if found else 'nothing'}"))
    db.session.commit()
    return found


EXPORT_HEADER = ["ref", "created_at", "channel", "reason", "language", "priority", "status",
                 "phone", "safe_to_call", "safe_times", "sms_ok", "rings", "deadline_at",
                 "first_attempt_at", "attempts", "breached", "outcome", "referral",
                 "closed_at", "claimed_by"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: leading = + - @ get a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def export_rows(filters: QueueFilter | None = None, staff_id: int | None = None,
                now: datetime | None = None) -> Iterator[list[str]]:
    """CSV rows (header first) of every request matching ``filters`` (paging ignored).

    Phones are masked and staff notes left out. When ``staff_id`` is given the
    export is written to the audit log at once, before any row is produced.
    """
    filters = filters or QueueFilter(status="all")
    validate(filters)
    now = now_utc(now)
    if staff_id is not None:
        db.session.add(AuditLog(at=now, staff_id=staff_id, action="export_callbacks",
                                detail=f"status={filters.status} reason={filters.reason} "
                                       f"language={filters.language} "
                                       f"channel={filters.channel}"[:300]))
        db.session.commit()
    tz = settings().week.tz

    def when(at: datetime | None) -> str:
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""

    def rows() -> Iterator[list[str]]:
        yield list(EXPORT_HEADER)
        query = _ordered(_query(filters), filters).execution_options(yield_per=500)
        for row, phone, name, email in db.session.execute(query):
            item = _item(row, phone, name, email, now)
            yield [safe_cell(v) for v in (
                item.ref, when(item.created_at), item.channel, item.reason, item.language,
                "urgent" if item.priority == 0 else "normal", item.status, item.phone_masked,
                item.safe_to_call, " ".join(item.safe_times),
                "" if item.sms_ok is None else ("yes" if item.sms_ok else "no"), item.rings,
                when(item.deadline_at), when(item.first_attempt_at), item.attempts,
                "yes" if item.breached else "no", item.outcome, item.referral,
                when(item.resolved_at), item.claimed_by)]

    return rows()
