"""Database tables. Times are stored in UTC; phone numbers in E.164."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contact(db.Model):
    """A phone number that reached us, and the language it chose."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Whom we may still write to. The silent exit stops everything; an opt-out stops
    # bulk only; repeated hard delivery failures make a number unreachable for bulk.
    exited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hard_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unreachable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UssdSession(db.Model):
    """One dial: enough to rebuild the session by replay when Redis lost it."""

    __tablename__ = "ussd_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(100), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(40))
    network_code: Mapped[str] = mapped_column(String(10), default="")
    start_lang: Mapped[str | None] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    contact: Mapped[Contact] = relationship()


class UssdSessionEnd(db.Model):
    """Africa's Talking's end-of-session notification, stored once per session."""

    __tablename__ = "ussd_session_ends"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(100), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    service_code: Mapped[str] = mapped_column(String(40), default="")
    network_code: Mapped[str] = mapped_column(String(10), default="")
    status: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    hops_count: Mapped[int | None] = mapped_column(Integer)
    input: Mapped[str] = mapped_column(Text, default="")
    last_app_response: Mapped[str] = mapped_column(Text, default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[str] = mapped_column(String(40), default="")
    gateway_date: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StaffUser(db.Model):
    """A member of MRRC staff who works the dashboard."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default="agent")  # agent|supervisor|admin
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ui_language: Mapped[str | None] = mapped_column(String(8))  # None: the browser's choice


class CallbackRequest(db.Model):
    """A caller asked to be called back; nothing here is ever deleted, only closed."""

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(12), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # ussd|missed_call|sms
    reason: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str | None] = mapped_column(String(8), index=True)
    safe_to_call: Mapped[str] = mapped_column(String(10), default="yes")  # yes|times
    safe_times: Mapped[str] = mapped_column(String(40), default="")  # morning,afternoon,evening
    sms_ok: Mapped[bool | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=1)  # 0 urgent, 1 normal
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(30))
    referral: Mapped[str | None] = mapped_column(String(30))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rings: Mapped[int] = mapped_column(Integer, default=0)
    last_ring_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sms_confirmation: Mapped[str | None] = mapped_column(Text)  # written, sent by the SMS issue
    follow_up_on: Mapped[date | None] = mapped_column(Date)  # agreed with the caller when reached

    contact: Mapped[Contact] = relationship()
    claimed_by: Mapped[StaffUser | None] = relationship()


class CallbackEvent(db.Model):
    """One line of a request's timeline."""

    __tablename__ = "callback_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("callback_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    detail: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    staff: Mapped[StaffUser | None] = relationship()


class AuditLog(db.Model):
    """Who did what sensitive thing (revealed a number, exported, changed a user)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80), default="")
    detail: Mapped[str] = mapped_column(String(300), default="")


class VoiceCall(db.Model):
    """An inbound call (a missed call we rejected), keyed by the gateway's session id."""

    __tablename__ = "voice_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(100), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    direction: Mapped[str] = mapped_column(String(20), default="")
    destination: Mapped[str] = mapped_column(String(32), default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    hangup_cause: Mapped[str] = mapped_column(String(40), default="")
    session_state: Mapped[str] = mapped_column(String(40), default="")
    amount: Mapped[str] = mapped_column(String(20), default="")
    currency: Mapped[str] = mapped_column(String(8), default="")


# The worklist orders open work by urgency then deadline; this index serves it and
# "Next request".
db.Index("ix_callback_requests_worklist", CallbackRequest.status, CallbackRequest.priority,
         CallbackRequest.deadline_at, CallbackRequest.id)

# The statistics page counts each staff member's attempts and closings of a period from
# the timeline; this index lets it read only that period's events of those kinds.
db.Index("ix_callback_events_kind_at", CallbackEvent.kind, CallbackEvent.at,
         postgresql_include=["staff_id", "request_id"])

# The statistics page counts the requests of a period (the last 30 days by default), and
# the queue's newest-first order pages from the end; without it both read the whole table.
db.Index("ix_callback_requests_created_at", CallbackRequest.created_at)
