"""Retention: what we hold about callers is deleted or anonymised once it is no longer needed.

Callers may be trafficking victims; a number kept for ever is a risk to them if the
database is ever seized or leaked. ``hotline purge`` (and the sweeper, once a day)
applies the periods of ``[retention]``; the README explains each one.

- A closed callback request older than ``closed_request_days`` (counted from when it
  closed) loses its number and notes: it moves to one shared anonymous contact, its
  timeline notes and SMS text are emptied. Codes, dates and outcomes stay, for statistics.
- USSD dials and end-of-session notifications older than ``ussd_session_days`` are
  deleted; so are missed-call rows older than ``voice_call_days``.
- Text messages older than ``message_days`` are deleted: what we sent (the outbox
  row: number and text), once it is no longer waiting to go, and what callers sent
  (inbound SMS), unless staff have not seen it yet or it belongs to an open request.
- A contact not seen for ``contact_days`` with no request left (open or recently
  closed) is deleted, or anonymised when another table still points at it.

Open requests, and the contacts they belong to, are never touched, however old; nor
is a contact subscribed to community alerts: the subscription is their standing
request to be written to (STOP or the silent exit ends it, and then the period runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError

from hotline.extensions import db
from hotline.models import (
    CallbackEvent,
    CallbackRequest,
    Contact,
    InboundSms,
    OutboxMessage,
    Subscription,
    UssdSession,
    UssdSessionEnd,
    VoiceCall,
)
from hotline.services import contacts
from hotline.services.callback_policy import now_utc

ANONYMOUS = "anon"  # the phone of the one contact that anonymised requests belong to


@dataclass(frozen=True)
class Periods:
    closed_request_days: int
    ussd_session_days: int
    voice_call_days: int
    message_days: int
    contact_days: int


def periods() -> Periods:
    values: dict[str, Any] = current_app.config["RETENTION"]
    return Periods(**{k: int(values[k]) for k in Periods.__dataclass_fields__})


def purge(now: datetime | None = None, dry_run: bool = False) -> list[str]:
    """Apply every retention period; one line per kind of data saying what was done."""
    now = now_utc(now)
    keep = periods()
    if db.session.get_bind().dialect.name == "postgresql":  # big deletes outlast 3 s
        db.session.execute(text("SET LOCAL statement_timeout = '300s'"))
    lines = [_closed_requests(now - timedelta(days=keep.closed_request_days)),
             *_ussd(now - timedelta(days=keep.ussd_session_days)),
             _voice_calls(now - timedelta(days=keep.voice_call_days)),
             *_messages(now - timedelta(days=keep.message_days)),
             _contacts(now - timedelta(days=keep.contact_days))]
    if dry_run:
        db.session.rollback()
        return [f"(dry run, nothing changed) {line}" for line in lines]
    db.session.commit()
    return lines


def _anonymous_contact() -> int:
    conn = db.session.connection()
    return conn.execute(contacts.upsert(conn.dialect.name).returning(Contact.id),
                        {"p_phone": ANONYMOUS, "p_now": now_utc()}).scalar_one()


def _closed_requests(cutoff: datetime) -> str:
    closed_at = func.coalesce(CallbackRequest.resolved_at, CallbackRequest.updated_at)
    anonymous = _anonymous_contact()
    ids = list(db.session.scalars(
        select(CallbackRequest.id).where(CallbackRequest.status != "open", closed_at < cutoff,
                                         CallbackRequest.contact_id != anonymous)))
    notes = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        notes += db.session.execute(
            update(CallbackEvent).where(CallbackEvent.request_id.in_(chunk),
                                        CallbackEvent.note != "")
            .values(note="").execution_options(synchronize_session=False)).rowcount
        db.session.execute(
            update(CallbackRequest).where(CallbackRequest.id.in_(chunk))
            .values(contact_id=anonymous, sms_confirmation=None)
            .execution_options(synchronize_session=False))
        db.session.execute(
            update(VoiceCall).where(VoiceCall.request_id.in_(chunk))
            .values(contact_id=None).execution_options(synchronize_session=False))
    return (f"closed requests: {len(ids)} closed before {cutoff:%Y-%m-%d} lost their number, "
            f"{notes} note(s) emptied")


def _deleted(statement: Any) -> int:
    return db.session.execute(statement.execution_options(synchronize_session=False)).rowcount


def _ussd(cutoff: datetime) -> list[str]:
    dials = _deleted(delete(UssdSession).where(UssdSession.started_at < cutoff))
    ends = _deleted(delete(UssdSessionEnd).where(UssdSessionEnd.received_at < cutoff))
    return [f"USSD sessions: {dials} dial(s) before {cutoff:%Y-%m-%d} deleted",
            f"USSD session ends: {ends} notification(s) before {cutoff:%Y-%m-%d} deleted"]


def _voice_calls(cutoff: datetime) -> str:
    calls = _deleted(delete(VoiceCall).where(VoiceCall.received_at < cutoff))
    return f"missed calls: {calls} call row(s) before {cutoff:%Y-%m-%d} deleted"


def _messages(cutoff: datetime) -> list[str]:
    """Texts hold numbers and words a caller may be harmed by; they go before the contacts
    (which they point at) are judged."""
    sent = _deleted(delete(OutboxMessage).where(OutboxMessage.created_at < cutoff,
                                                OutboxMessage.status.not_in(("queued",
                                                                             "sending"))))
    open_request = exists().where(CallbackRequest.id == InboundSms.request_id,
                                  CallbackRequest.status == "open")
    received = _deleted(delete(InboundSms).where(InboundSms.received_at < cutoff,
                                                 InboundSms.status != "new", ~open_request))
    return [f"sent SMS: {sent} message(s) before {cutoff:%Y-%m-%d} deleted",
            f"received SMS: {received} message(s) before {cutoff:%Y-%m-%d} deleted "
            "(unread ones and those of open requests kept)"]


def _contacts(cutoff: datetime) -> str:
    idle = list(db.session.scalars(
        select(Contact.id).where(
            Contact.last_seen_at < cutoff, Contact.phone != ANONYMOUS,
            ~Contact.phone.startswith(f"{ANONYMOUS}-"),
            ~exists().where(CallbackRequest.contact_id == Contact.id),
            ~exists().where(Subscription.contact_id == Contact.id))))
    deleted = anonymised = 0
    for contact_id in idle:
        db.session.execute(update(UssdSessionEnd).where(UssdSessionEnd.contact_id == contact_id)
                           .values(contact_id=None)
                           .execution_options(synchronize_session=False))
        db.session.execute(update(VoiceCall).where(VoiceCall.contact_id == contact_id)
                           .values(contact_id=None).execution_options(synchronize_session=False))
        db.session.execute(delete(UssdSession).where(UssdSession.contact_id == contact_id)
                           .execution_options(synchronize_session=False))
        # the texts for them (number and body in full): after the retention period a
        # text still unsent is stale too, and its job skips a row that is gone
        db.session.execute(delete(OutboxMessage).where(OutboxMessage.contact_id == contact_id)
                           .execution_options(synchronize_session=False))
        try:
            with db.session.begin_nested():
                db.session.execute(delete(Contact).where(Contact.id == contact_id)
                                   .execution_options(synchronize_session=False))
            deleted += 1
        except IntegrityError:  # a table of another part still points at it: keep the row
            db.session.execute(
                update(Contact).where(Contact.id == contact_id)
                .values(phone=f"{ANONYMOUS}-{contact_id}", language=None)
                .execution_options(synchronize_session=False))
            anonymised += 1
    return (f"contacts: {deleted} not seen since {cutoff:%Y-%m-%d} with nothing open deleted, "
            f"{anonymised} anonymised")
