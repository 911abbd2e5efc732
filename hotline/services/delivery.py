"""What the gateway tells us after sending: delivery reports and bulk opt-outs.

Reports are keyed by the provider's message id and only move a message forward
(``sent`` -> ``delivered`` | ``undelivered``): their order and repetition are not
documented, so a late ``Sent`` after ``Success`` or a second copy changes
nothing. A number that fails hard again and again (absent, no such subscriber;
the list is in config) becomes unreachable for bulk; one delivery clears it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Contact, OutboxMessage, utcnow
from hotline.privacy import mask_phone
from hotline.services import contacts

log = logging.getLogger(__name__)

DELIVERED = {"success"}
UNDELIVERED = {"failed", "rejected", "absentsubscriber", "expired"}
IN_FLIGHT = {"sent", "submitted", "buffered"}
FINAL = ("delivered", "undelivered")


@dataclass(frozen=True)
class DeliveryReport:
    """One report, already checked at the edge."""

    message_id: str
    status: str
    failure_reason: str = ""
    network_code: str = ""


def record_report(report: DeliveryReport) -> str:
    """Apply one report; what happened, in a word, for the log and the tests."""
    row = db.session.scalars(select(OutboxMessage)
                             .where(OutboxMessage.provider_message_id == report.message_id)
                             .with_for_update()).first()
    if row is None:
        db.session.rollback()
        log.info("delivery report for unknown message id %r (%s)", report.message_id[:40],
                 report.status[:20])
        return "unknown"
    word = report.status.replace(" ", "").lower()
    if row.status != "sent":  # delivered and undelivered are final
        db.session.rollback()
        return "ignored"
    now = utcnow()
    row.provider_status = (report.failure_reason or report.status)[:40]
    row.updated_at = now
    contact = db.session.scalars(select(Contact).where(Contact.phone == row.recipient)
                                 .with_for_update()).first()
    if word in DELIVERED:
        row.status, row.delivered_at = "delivered", now
        if contact is not None:
            contact.hard_failures, contact.unreachable_at = 0, None
    elif word in UNDELIVERED:
        row.status, row.error = "undelivered", (report.failure_reason or report.status)[:200]
        if contact is not None and _hard(report):
            contact.hard_failures = (contact.hard_failures or 0) + 1
            threshold = int(current_app.config["OUTBOX"]["hard_failure_threshold"])
            if contact.hard_failures >= threshold and contact.unreachable_at is None:
                contact.unreachable_at = now
                log.info("%s unreachable for bulk after %s hard failures",
                         mask_phone(contact.phone), contact.hard_failures)
    db.session.commit()
    return row.status


def _hard(report: DeliveryReport) -> bool:
    hard = {word.lower() for word in current_app.config["OUTBOX"]["hard_failures"]}
    return report.failure_reason.lower() in hard or report.status.lower() in hard


def opt_out(phone: str) -> bool:
    """The number refuses bulk from now on; True if that is news."""
    contact = contacts.get_or_create(phone)
    news = contact.opted_out_at is None
    if news:
        contact.opted_out_at = utcnow()
        log.info("%s opted out of bulk messages", mask_phone(phone))
    db.session.commit()
    return news
