"""Database tables. Times are stored in UTC; phone numbers in E.164."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
)
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
    # A generated password (new account, admin reset) must be replaced at first sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default="false")
    # Part of every sign-in's fingerprint: raised when the account is switched off, so
    # switching it on again does not bring old sessions back.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # base32, set once confirmed
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # no code is used twice
    recovery_codes: Mapped[str] = mapped_column(Text, default="", server_default="")
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
    # seconds from the request to the first call; a PostgreSQL trigger keeps it (0012)
    first_wait: Mapped[float | None] = mapped_column(Float, deferred=True)

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
    """Who did what sensitive thing (signed in, revealed a number, exported, changed a user).

    Append-only: a database trigger refuses UPDATE, DELETE and TRUNCATE.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80), default="")
    detail: Mapped[str] = mapped_column(String(300), default="")
    address: Mapped[str] = mapped_column(String(45), default="", server_default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="", server_default="")


@event.listens_for(AuditLog, "before_insert")
def _from_request(mapper: object, connection: object, row: AuditLog) -> None:
    """Every entry written while serving a request carries its address and user agent.

    Done here, once, so no code path that writes the log can forget them. The
    address is ``remote_addr``: the client's only behind trusted proxies (ProxyFix).
    """
    from flask import has_request_context, request

    if not has_request_context():
        return
    if not row.address:
        row.address = (request.remote_addr or "")[:45]
    if not row.user_agent:
        agent = request.headers.get("User-Agent", "")
        row.user_agent = "".join(c for c in agent if c.isprintable())[:200]


class RevealApproval(db.Model):
    """An agent over the hourly reveal limit asked a supervisor to approve one reveal.

    pending -> approved (one reveal of that request) -> used, or pending -> refused.
    """

    __tablename__ = "reveal_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("callback_requests.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    staff: Mapped[StaffUser] = relationship(foreign_keys=[staff_id])
    request: Mapped[CallbackRequest] = relationship()


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


class InboundSms(db.Model):
    """A text a caller sent us, stored once per gateway id before the webhook answers.

    ``kind`` says what the service made of it: a keyword, a step of an SMS
    conversation, or a message for staff (``received`` until then, so a text whose
    handling failed still reaches staff). ``status`` is for staff messages: new in
    the inbox, attached to the caller's open request, answered, turned into a
    request, or dismissed.
    """

    __tablename__ = "inbound_sms"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(100), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    to_code: Mapped[str] = mapped_column(String(40), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    link_id: Mapped[str] = mapped_column(String(100), default="")
    network_code: Mapped[str] = mapped_column(String(10), default="")
    gateway_date: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(20), default="received")
    command: Mapped[str] = mapped_column(String(20), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default="done")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"))
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reply: Mapped[str] = mapped_column(Text, default="")

    contact: Mapped[Contact] = relationship()
    handled_by: Mapped[StaffUser | None] = relationship()


class OutboxMessage(db.Model):
    """One outbound SMS to one recipient, written in the same transaction as its cause.

    rq jobs send by id and the sweeper re-enqueues what a lost job left behind, so the
    row, not Redis, is the record of what must still go out.
    """

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(30))  # reply|confirmation|topic|staff_reply|oncall…
    recipient: Mapped[str] = mapped_column(String(20))  # E.164
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    encoding: Mapped[str] = mapped_column(String(8))  # GSM-7|UCS-2
    parts: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(10))  # reply|bulk
    # queued -> sending -> sent|failed|expired|suppressed; sent -> delivered|undelivered
    status: Mapped[str] = mapped_column(String(12), default="queued")
    # The status the indexes see (migration 0014): queued and sending are both "pending",
    # so claiming a row (queued -> sending) changes no indexed column and PostgreSQL
    # rewrites it in place (a HOT update) instead of adding it to every index again.
    # Queries by status say the stage too (``stage_of``), so an index serves them.
    stage: Mapped[str] = mapped_column(String(12), Computed(
        "CASE WHEN status IN ('queued', 'sending') THEN 'pending' ELSE status END",
        persisted=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    provider_status: Mapped[str] = mapped_column(String(40), default="")  # last code/report
    error: Mapped[str] = mapped_column(String(200), default="")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    callback_request_id: Mapped[int | None] = mapped_column(ForeignKey("callback_requests.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The alert this message is one copy of (issue 11): progress, pause and cancel.
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))


def stage_of(status: str) -> str:
    """The ``OutboxMessage.stage`` of a status: what an index on the stage finds it by."""
    return "pending" if status in ("queued", "sending") else status


db.Index("ix_audit_log_action", AuditLog.action)

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

# The banner on every staff page: the oldest open urgent request (0012).
db.Index("ix_callback_requests_urgent", CallbackRequest.status, CallbackRequest.priority,
         CallbackRequest.created_at, CallbackRequest.id)

# The statistics' exact median reads one slice of waits, filters included (0012).
db.Index("ix_callback_requests_first_wait", CallbackRequest.first_wait,
         postgresql_include=["created_at", "reason", "language", "channel"])


class StatsState(db.Model):
    """Which local days ``stats_days`` counts (``covered_from`` <= day < ``covered_until``),
    and in which layout (time zone, vocabularies, wait buckets): see ``services.statsdays``."""

    __tablename__ = "stats_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    layout: Mapped[str] = mapped_column(String(64))
    covered_from: Mapped[date | None] = mapped_column(Date)
    covered_until: Mapped[date | None] = mapped_column(Date)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class _StatsCounts:
    """Closed requests created on one local day (or in one month: ``day`` is its first),
    counted for the statistics page, per reason, language ("" none yet) and channel ("*"
    stands for any value): ``n`` of them have ``code`` for ``measure`` (``statsdays``)."""

    reason: Mapped[str] = mapped_column(String(20), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    measure: Mapped[str] = mapped_column(String(12), primary_key=True)  # n, status, wait...
    code: Mapped[str] = mapped_column(String(30), primary_key=True)  # "resolved", "3", ""
    n: Mapped[int] = mapped_column(Integer)


class StatsDay(_StatsCounts, db.Model):
    __tablename__ = "stats_days"


class StatsMonth(_StatsCounts, db.Model):
    __tablename__ = "stats_months"


class _StatsWork:
    """One staff member's call attempts and closings on one local day (or month), any
    request status, per the request's reason, language and channel ("*": any)."""

    reason: Mapped[str] = mapped_column(String(20), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    staff_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    attempts: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)


class StatsAgentDay(_StatsWork, db.Model):
    __tablename__ = "stats_agent_days"


class StatsAgentMonth(_StatsWork, db.Model):
    __tablename__ = "stats_agent_months"


class StatsDirty(db.Model):
    """A counted row changed: the local day of ``at`` must be counted again ("r" requests,
    "e" events). Written by triggers in the writer's transaction."""

    __tablename__ = "stats_dirty"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    what: Mapped[str] = mapped_column(String(1))


# The per-day chart reads one measure of one language over the last 90 days (0012).
db.Index("ix_stats_days_per_day", StatsDay.measure, StatsDay.language, StatsDay.day)


class Subscription(db.Model):
    """Someone wants alerts of one topic for one area; deleted on withdrawal (the ledger stays)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("contact_id", "area_code", "topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    area_code: Mapped[str] = mapped_column(String(10))
    topic: Mapped[str] = mapped_column(String(12))  # safety|services|tips
    channel: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsentEvent(db.Model):
    """One consent or withdrawal, as it was given; rows are only ever added (a trigger
    refuses UPDATE in PostgreSQL)."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    action: Mapped[str] = mapped_column(String(12))  # subscribe|unsubscribe
    area_code: Mapped[str] = mapped_column(String(10), default="")  # "" = every area
    topics: Mapped[str] = mapped_column(String(40), default="")
    channel: Mapped[str] = mapped_column(String(10))  # ussd|sms|exit|staff
    language: Mapped[str | None] = mapped_column(String(8))
    text_version: Mapped[str] = mapped_column(String(60), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # What gave it (e.g. the USSD session), so a replayed session records it once.
    ref: Mapped[str | None] = mapped_column(String(140), unique=True)


class Leader(db.Model):
    """A community leader allowed to send alerts to some areas from one phone."""

    __tablename__ = "leaders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    areas: Mapped[str] = mapped_column(String(400))  # area codes, comma-separated
    daily_limit: Mapped[int] = mapped_column(Integer, default=2)
    active: Mapped[bool] = mapped_column(default=True)
    pin_hash: Mapped[str | None] = mapped_column(String(255))
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    @property
    def area_codes(self) -> list[str]:
        return [c for c in self.areas.split(",") if c]


class LeaderPinAttempt(db.Model):
    """A PIN entry, once per session and try, so a replayed session counts nothing twice."""

    __tablename__ = "leader_pin_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("leaders.id"), index=True)
    key: Mapped[str] = mapped_column(String(140), unique=True)
    ok: Mapped[bool] = mapped_column()
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Broadcast(db.Model):
    """One alert to the subscribers of some areas, from a leader's phone or a staff member."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(140), unique=True)  # one per confirmation
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("leaders.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    template: Mapped[str] = mapped_column(String(40), default="")  # "" for free text
    fields: Mapped[str] = mapped_column(Text, default="{}")  # JSON: template field values
    texts: Mapped[str] = mapped_column(Text, default="{}")  # JSON: free text per language
    areas: Mapped[str] = mapped_column(String(400))
    topic: Mapped[str] = mapped_column(String(12))
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(20), index=True)
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # as counted at confirmation
    parts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fanout_cursor: Mapped[int] = mapped_column(Integer, default=0)  # last contact id done
    fanned_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    leader: Mapped[Leader | None] = relationship()


# The fan-out reads the subscribers of some areas and a topic, in contact order.
db.Index("ix_subscriptions_fanout", Subscription.area_code, Subscription.topic,
         Subscription.contact_id)

# The staff inbox lists messages by status, newest first.
db.Index("ix_inbound_sms_inbox", InboundSms.status, InboundSms.received_at)

# No outbox index changes when a row is claimed (queued -> sending: a HOT update); only the
# outcome a worker writes afterwards changes them (migration 0014_hot_claim):
# - the sweeper reads pending rows, the staff page a status newest first: by stage;
db.Index("ix_outbox_messages_stage", OutboxMessage.stage, OutboxMessage.id)
# - retention deletes by age;
db.Index("ix_outbox_messages_created_at", OutboxMessage.created_at)
# - a send job claims the pending rows of one text, in id order: the body by its md5, since
#   a whole body can be larger than a btree entry (PostgreSQL only, 0013_send);
db.Index("ix_outbox_messages_pending_text", OutboxMessage.priority,
         func.md5(OutboxMessage.body), OutboxMessage.id,
         postgresql_where=OutboxMessage.stage == "pending")
# - columns empty on most rows (a reply has no broadcast, most no callback request, none a
#   provider id until sent) are indexed where set: a row without them costs those indexes
#   nothing when it is written. Every query by them names a value, which implies the rest.
for _column in (OutboxMessage.contact_id, OutboxMessage.callback_request_id,
                OutboxMessage.broadcast_id):
    db.Index(f"ix_outbox_messages_{_column.key}", _column,
             postgresql_where=_column.is_not(None), sqlite_where=_column.is_not(None))
db.Index("ix_outbox_messages_provider_message_id", OutboxMessage.provider_message_id,
         unique=True, postgresql_where=OutboxMessage.provider_message_id.is_not(None))
