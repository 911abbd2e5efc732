"""The staff inbox: texts from callers that no keyword or conversation answered.

Staff answer a text (through the outbox, in the caller's language), turn it into a
callback request, or dismiss it. Each of these is written to the audit log, and a
text on a request's timeline gets the answer there too. Phone numbers leave this
module masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from hotline.errors import HotlineError
from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, Contact, InboundSms
from hotline.privacy import mask_phone
from hotline.services import callback_policy, caller_requests, outbox
from hotline.services.worklist import QueuePage
from hotline.textcodec import measure, sms_parts

STATUSES = ("new", "attached", "answered", "converted", "dismissed")
OPEN = ("new", "attached")  # still waiting for a person
MAX_ID = 2**31 - 1


class InboxError(HotlineError):
    """A staff action on a text that cannot be done; the message says why."""


class MessageNotFound(InboxError):
    pass


@dataclass(frozen=True)
class InboxItem:
    id: int
    phone_masked: str
    text: str
    language: str | None  # the caller's language: replies are written in it
    received_at: datetime
    status: str
    request_id: int | None
    request_ref: str | None
    handled_by: str | None
    handled_at: datetime | None
    reply: str
    exited: bool  # the caller used the silent exit: nothing will be sent


@dataclass(frozen=True)
class InboxPage(QueuePage):
    """One page of texts; counted and paged as the queue is."""

    items: tuple[InboxItem, ...]  # type: ignore[assignment]


def max_parts() -> int:
    return int((current_app.config.get("SMS") or {}).get("max_reply_parts", 3))


def _item(row: InboundSms, ref: str | None) -> InboxItem:
    contact = row.contact
    handled = row.handled_by
    return InboxItem(
        id=row.id, phone_masked=mask_phone(contact.phone), text=row.text,
        language=contact.language or row.language, received_at=row.received_at,
        status=row.status, request_id=row.request_id, request_ref=ref,
        handled_by=(handled.name or handled.email) if handled else None,
        handled_at=row.handled_at, reply=row.reply, exited=contact.exited_at is not None)


def _for_staff():
    """Texts for staff (and those whose handling failed), with the request's reference;
    contact and handler loaded in one more query per page, not one per row."""
    return select(InboundSms, CallbackRequest.ref).options(
        selectinload(InboundSms.contact), selectinload(InboundSms.handled_by)).outerjoin(
        CallbackRequest, CallbackRequest.id == InboundSms.request_id).where(
        InboundSms.kind.in_(("staff", "received")))


def list_messages(status: str = "new", page: int = 1, per_page: int = 25) -> InboxPage:
    """Texts for staff, newest first; ``status`` one of STATUSES or ``all``."""
    if status != "all" and status not in STATUSES:
        raise InboxError(f"status must be one of {', '.join(STATUSES)} or all")
    query = _for_staff()
    if status != "all":
        query = query.where(InboundSms.status == status)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, -(-total // per_page) or 1))
    rows = db.session.execute(query.order_by(InboundSms.received_at.desc(),
                                             InboundSms.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return InboxPage(tuple(_item(r, ref) for r, ref in rows), total, page, per_page)


def get_message(message_id: int) -> InboxItem:
    row = db.session.execute(_for_staff().where(InboundSms.id == message_id)).first() \
        if 0 < message_id <= MAX_ID else None
    if row is None:
        raise MessageNotFound(f"no text message {message_id}")
    return _item(row[0], row[1])


def _locked(message_id: int) -> InboundSms:
    row = db.session.scalars(select(InboundSms).where(
        InboundSms.id == message_id, InboundSms.kind.in_(("staff", "received")))
        .with_for_update()).first() if 0 < message_id <= MAX_ID else None
    if row is None:
        raise MessageNotFound(f"no text message {message_id}")
    return row


def _audit(staff_id: int, action: str, row: InboundSms, detail: str = "") -> None:
    db.session.add(AuditLog(staff_id=staff_id, action=action, target=f"inbound_sms:{row.id}",
                            detail=detail[:300]))


def check_reply(body: str) -> str:
    """The reply as it will be sent, or InboxError saying what is wrong with it."""
    text = (body or "").replace("\r\n", "\n").strip()
    if not text:
        raise InboxError("Write a reply first.")
    if "\x00" in text:
        raise InboxError("The reply contains a character that cannot be sent.")
    parts, limit = sms_parts(text), max_parts()
    if parts > limit:
        cost = measure(text)
        raise InboxError(f"The reply is {parts} SMS parts ({cost.units} {cost.encoding} "
                         f"characters); at most {limit}. Shorten it.")
    return text


def reply(message_id: int, staff_id: int, body: str) -> InboxItem:
    """Answer a text through the outbox, once; the first answer wins a double click."""
    text = check_reply(body)
    row = _locked(message_id)
    if row.reply:
        raise InboxError("This text is already answered.")
    if row.status == "dismissed":
        raise InboxError("This text is dismissed.")
    contact = db.session.get(Contact, row.contact_id)
    lang = contact.language or row.language or current_app.config["DEFAULT_LANGUAGE"]
    outbox.queue_sms(db.session, to=contact.phone, body=text, language=lang,
                     priority="reply", kind="staff_reply",
                     idempotency_key=f"staff-reply:{row.id}", contact_id=contact.id,
                     callback_request_id=row.request_id)
    now = callback_policy.now_utc()
    row.reply, row.handled_by_id, row.handled_at = text, staff_id, now
    if row.request_id is not None:
        db.session.add(CallbackEvent(request_id=row.request_id, kind="sms_reply", at=now,
                                     staff_id=staff_id, detail="answered by text message",
                                     note=text))
    else:
        row.status = "answered"
    _audit(staff_id, "sms_reply", row, f"{sms_parts(text)} part(s), {lang}")
    db.session.commit()
    return get_message(message_id)


def dismiss(message_id: int, staff_id: int) -> None:
    row = _locked(message_id)
    if row.status not in OPEN:
        raise InboxError(f"This text is already {row.status}.")
    row.status, row.handled_by_id, row.handled_at = "dismissed", staff_id, callback_policy.now_utc()
    _audit(staff_id, "sms_dismiss", row)
    db.session.commit()


def to_request(message_id: int, staff_id: int) -> tuple[int, str]:
    """Make a callback request of the text (or add it to the caller's open one)."""
    row = _locked(message_id)
    if row.status != "new":
        raise InboxError("Only a new text can become a request."
                         if row.request_id is None else "This text is already on a request.")
    request_id, ref = caller_requests.request_from_text(row.contact_id, staff_id, row.text)
    row.status, row.request_id = "converted", request_id
    row.handled_by_id, row.handled_at = staff_id, callback_policy.now_utc()
    _audit(staff_id, "sms_to_request", row, f"request {ref}")
    db.session.commit()
    return request_id, ref
