"""Alert subscriptions and the consent ledger.

A subscription row says what someone gets now; the ledger (``consent_events``)
says what they agreed to or withdrew, when, by which channel and with which
version of the consent text. Subscriptions are deleted on withdrawal; the
ledger is only ever appended to, and a ``ref`` (the USSD session, the SMS
message) makes a repeated or replayed request record nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, func, select

from hotline import areas
from hotline.alerttexts import TOPICS
from hotline.errors import HotlineError
from hotline.extensions import db
from hotline.models import ConsentEvent, Contact, Subscription, utcnow
from hotline.normalize import menu_input
from hotline.services import contacts

CHANNELS = ("ussd", "sms", "exit", "staff")
CONSENT_KEYS = {"ussd": ("alerts.consent.what", "alerts.consent.often", "alerts.consent.stop"),
                "sms": ("alerts.sms.joined",)}


class SubscriptionError(HotlineError):
    """A subscription that cannot be made: unknown area or topic."""


@dataclass(frozen=True)
class Subscribed:
    contact_id: int
    area_code: str
    topics: tuple[str, ...]
    recorded: bool  # False when ``ref`` had been recorded before (a replay)


def text_version(channel: str, lang: str | None) -> str:
    """Which consent text the person saw: its keys and a digest of its words.

    A digest rather than a number someone must remember to raise: any change
    to the text gives a new version, and the ledger shows which one each
    person agreed to.
    """
    catalog = current_app.extensions["hotline.catalog"]
    lang = lang if lang in catalog.languages else current_app.config["DEFAULT_LANGUAGE"]
    keys = CONSENT_KEYS.get(channel, ())
    words = "\n".join(catalog.text(lang, k) for k in keys if catalog.has(lang, k))
    return f"{lang}:{hashlib.sha256(words.encode()).hexdigest()[:12]}"


def _record(contact_id: int, action: str, *, area_code: str, topics: Iterable[str],
            channel: str, lang: str | None, ref: str | None, now: datetime) -> bool:
    """Append one ledger line; False when ``ref`` is already there."""
    if ref is not None and db.session.scalar(
            select(ConsentEvent.id).where(ConsentEvent.ref == ref)) is not None:
        return False
    db.session.add(ConsentEvent(contact_id=contact_id, action=action, area_code=area_code,
                                topics=",".join(topics), channel=channel, language=lang,
                                text_version=text_version(channel, lang), at=now, ref=ref))
    return True


def subscribe(phone: str, area_code: str, topics: Iterable[str], *, channel: str,
              lang: str | None, ref: str | None = None, now: datetime | None = None
              ) -> Subscribed:
    """Subscribe ``phone`` to ``topics`` for an area and record the consent (caller commits)."""
    wanted = tuple(dict.fromkeys(t for t in topics if t))
    if areas.load().get(area_code) is None:
        raise SubscriptionError(f"unknown area {area_code!r}")
    if not wanted or not set(wanted) <= set(TOPICS):
        raise SubscriptionError(f"topics must be some of {', '.join(TOPICS)}")
    now = now or utcnow()
    contact = contacts.get_or_create(phone)
    have = set(db.session.scalars(select(Subscription.topic).where(
        Subscription.contact_id == contact.id, Subscription.area_code == area_code)))
    for topic in wanted:
        if topic not in have:
            db.session.add(Subscription(contact_id=contact.id, area_code=area_code, topic=topic,
                                        channel=channel, created_at=now))
    if lang and contact.language is None:
        contact.language = lang
    recorded = _record(contact.id, "subscribe", area_code=area_code, topics=wanted,
                       channel=channel, lang=lang, ref=ref, now=now)
    return Subscribed(contact.id, area_code, wanted, recorded)


def unsubscribe_contact(contact_id: int, *, channel: str, lang: str | None = None,
                        ref: str | None = None, now: datetime | None = None) -> int:
    """Remove every subscription of a contact and record the withdrawal; how many went."""
    removed = db.session.execute(
        delete(Subscription).where(Subscription.contact_id == contact_id)).rowcount
    _record(contact_id, "unsubscribe", area_code="", topics=(), channel=channel, lang=lang,
            ref=ref, now=now or utcnow())
    return int(removed or 0)


def unsubscribe(phone: str, *, channel: str, lang: str | None = None, ref: str | None = None,
                now: datetime | None = None) -> int:
    """STOP, the USSD choice, or the silent exit (``channel="exit"``): stop every alert.

    Someone we never heard from has nothing to stop, and gets no contact row.
    """
    contact = contacts.find(phone)
    if contact is None:
        return 0
    return unsubscribe_contact(contact.id, channel=channel, lang=lang, ref=ref, now=now)


def find_area(typed: str) -> areas.Area | None:
    """The area a person typed after JOIN: a name in any language, a code, or the number
    of a state in the order the USSD list shows them."""
    known = areas.load()
    number = menu_input(typed)
    if number.isascii() and number.isdigit():
        states = known.states()
        return states[int(number) - 1] if 1 <= int(number) <= len(states) else None
    return known.find(typed)


def of_contact(contact_id: int) -> list[Subscription]:
    return list(db.session.scalars(select(Subscription).where(
        Subscription.contact_id == contact_id).order_by(Subscription.area_code,
                                                        Subscription.topic)))


def ledger(contact_id: int) -> list[ConsentEvent]:
    return list(db.session.scalars(select(ConsentEvent).where(
        ConsentEvent.contact_id == contact_id).order_by(ConsentEvent.id)))


def reachable(area_codes: Iterable[str], topic: str):
    """The contacts an alert for these areas and topic may go to, once each (a subquery).

    A contact subscribed in several of the areas is one row; exited, opted-out and
    unreachable contacts are left out.
    """
    codes = sorted(areas.load().reach(area_codes))
    return (select(Subscription.contact_id)
            .join(Contact, Contact.id == Subscription.contact_id)
            .where(Subscription.area_code.in_(codes), Subscription.topic == topic,
                   Contact.exited_at.is_(None), Contact.opted_out_at.is_(None),
                   Contact.unreachable_at.is_(None))
            .distinct())


def count_reachable(area_codes: Iterable[str], topic: str) -> int:
    return int(db.session.scalar(select(func.count()).select_from(
        reachable(area_codes, topic).subquery())) or 0)


def subscribers_by_area() -> dict[str, int]:
    """Distinct subscribers per area code, for the dashboard."""
    rows = db.session.execute(select(Subscription.area_code,
                                     func.count(func.distinct(Subscription.contact_id)))
                              .group_by(Subscription.area_code))
    return {code: int(n) for code, n in rows}
