"""Inbound SMS: store each text once, then answer it as a keyword, a conversation step,
or hand it to staff.

A text is committed before anything else happens, so a failure while handling
it loses nothing: the row stays ``received``/``new`` and shows in the staff
inbox. Replies go through the outbox in the same transaction as what caused
them, each keyed by the inbound row, so one text never gets two answers.

Conversations (CALL, a tip) run the USSD flows on the same engine, one screen
per reply; the state is kept in the store under the phone number with a TTL.
A conversation in which the caller said a text is not safe (``sms: no``), or
whose last step sent its own text (a topic copy), ends without a further reply.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline.content import Catalog
from hotline.extensions import db
from hotline.flows import Engine, State
from hotline.keywords import REPLY_FILE, Command, Keywords
from hotline.models import CallbackEvent, CallbackRequest, Contact, InboundSms
from hotline.normalize import menu_input
from hotline.privacy import mask_phone
from hotline.services import callback_policy, caller_requests, contacts, outbox, subscriptions
from hotline.store import Store

log = logging.getLogger(__name__)

CALL_START = "callback.reason"  # where CALL enters the callback flow
COPY_START = "sendcopy.ask"  # where a tip number enters the "send this by SMS" flow
ENTRY_NODES = (CALL_START, COPY_START)
QUIET = (("sms", "no"),  # the caller said a text is not safe: answer nothing more
         ("sent", "yes"))  # an action sent the answer itself (a topic copy)
RE_ENGAGE = ("help", "info", "call", "topic", "start", "join")
LOCK_WAIT = 5.0  # seconds a text waits for the previous one of the same phone
LOCK_TTL = 15  # seconds a crashed handler can hold a phone's texts back


@dataclass(frozen=True)
class InboundText:
    """The gateway's fields, checked at the edge."""

    provider_id: str
    phone: str  # E.164
    to_code: str
    text: str
    link_id: str = ""
    network_code: str = ""
    gateway_date: str = ""


@dataclass(frozen=True)
class Handled:
    stored: bool  # False: a repeated delivery of a text we already have
    inbound_id: int
    kind: str


def utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


class SmsService:
    """Answers inbound texts for one app; holds no per-caller state."""

    def __init__(self, engine_for: Callable[[str], Engine], catalog: Catalog, store: Store,
                 settings: Mapping[str, Any], keywords: Keywords) -> None:
        self.engine_for = engine_for
        self.catalog = catalog
        self.store = store
        self.keywords = keywords
        self.default_lang = settings["DEFAULT_LANGUAGE"]
        self.values = dict(settings["CENTRE"])
        self.ttl = int(settings["SMS"]["conversation_ttl"])
        self.tz = ZoneInfo(settings["TIMEZONE"])

    # --- storing ---------------------------------------------------------------------------

    def receive(self, msg: InboundText) -> Handled:
        """Store the text (committed), then handle it; a repeat is answered and ignored.

        Database errors while storing propagate, so the webhook answers 503 and the
        gateway retries; errors while handling are logged and leave the text to staff.
        """
        existing = self._find(msg.provider_id)
        if existing is not None:
            return Handled(False, existing.id, existing.kind)
        contact = contacts.get_or_create(msg.phone)
        row = InboundSms(provider_id=msg.provider_id, contact_id=contact.id,
                         to_code=msg.to_code, text=msg.text, link_id=msg.link_id,
                         network_code=msg.network_code, gateway_date=msg.gateway_date,
                         received_at=callback_policy.now_utc(), kind="received", command="",
                         status="new", reply="")
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # the same text, delivered twice at the same moment
            db.session.rollback()
            again = self._find(msg.provider_id)
            if again is None:
                raise
            return Handled(False, again.id, again.kind)
        row_id = row.id
        held = self._hold(msg.phone)
        try:
            kind = self.handle(row_id)
        except Exception:
            db.session.rollback()
            log.exception("inbound SMS %d from %s stored but not handled; left for staff",
                          row_id, mask_phone(msg.phone))
            kind = "received"
        finally:
            if held:
                self._drop(self._lock_key(msg.phone))
        return Handled(True, row_id, kind)

    @staticmethod
    def _lock_key(phone: str) -> str:
        return f"sms:handling:{phone}"

    def _hold(self, phone: str) -> bool:
        """Handle one phone's texts one after the other: two texts sent in quick succession
        would otherwise both step the conversation from the same state. Waits up to
        ``LOCK_WAIT`` seconds, then goes on regardless (a reply late is worse than a rare
        double step); without Redis it does not wait at all."""
        deadline = time.monotonic() + LOCK_WAIT
        try:
            while not self.store.add(self._lock_key(phone), b"1", LOCK_TTL):
                if time.monotonic() > deadline:
                    log.warning("texts from %s overlap; handling without waiting",
                                mask_phone(phone))
                    return False
                time.sleep(0.05)
        except RedisError:
            return False
        return True

    @staticmethod
    def _find(provider_id: str) -> InboundSms | None:
        return db.session.scalars(
            select(InboundSms).where(InboundSms.provider_id == provider_id)).one_or_none()

    # --- handling --------------------------------------------------------------------------

    def handle(self, row_id: int) -> str:
        row = db.session.get(InboundSms, row_id)
        contact = db.session.get(Contact, row.contact_id)
        command = self.keywords.match(row.text)
        conversation = self._load(contact.phone)
        row.language = (command.lang if command else None) or \
            (conversation.lang if conversation else None) or contact.language or \
            self._written_in(row.text)
        if command is not None and command.lang and contact.language != command.lang:
            contact.language = command.lang
        if command is not None and command.name in RE_ENGAGE:
            contact.exited_at = None  # they came back and asked: their answer is wanted
        if command is not None and command.name == "exit":
            return self._exit(row, contact)
        if command is not None and command.name in ("stop", "start"):
            return self._opt(row, contact, command)
        if command is not None and command.name == "join":
            return self._join(row, contact, command)
        if conversation is not None and (command is None or command.name == "topic"):
            return self._converse(row, contact, conversation)
        if command is None:
            return self._for_staff(row, contact)
        lang = self._lang(row, contact)
        row.kind, row.command, row.status = "keyword", command.name, "done"
        if command.name == "help":
            return self._answer(row, contact, self._render(lang, f"{REPLY_FILE}.help"), lang)
        if command.name == "info":
            return self._answer(row, contact, self.keywords.info(lang), lang)
        vars_ = {"copy": command.topic or ""} if command.name == "topic" else {}
        node = COPY_START if command.name == "topic" else CALL_START
        return self._start(row, contact, State(node=node, lang=lang, vars=vars_))

    def _written_in(self, text: str) -> str | None:
        """A guess for a caller who never chose a language: Arabic letters say Arabic,
        Latin ones English (when those languages have content), so staff answer in kind."""
        if any("\u0600" <= ch <= "\u06ff" for ch in text):
            guess = "ar"
        elif any(ch.isascii() and ch.isalpha() for ch in text):
            guess = "en"
        else:
            return None
        return guess if guess in self.catalog.languages else None

    def _lang(self, row: InboundSms, contact: Contact) -> str:
        lang = row.language or contact.language or self.default_lang
        return lang if lang in self.catalog.languages else self.default_lang

    def _render(self, lang: str, key: str) -> str:
        return self.catalog.render(lang, key, self.values)

    def _answer(self, row: InboundSms, contact: Contact, body: str | None, lang: str,
                key: str | None = None) -> str:
        """Queue the reply (if any) with the row's new state, in one commit."""
        if body:
            outbox.queue_sms(db.session, to=contact.phone, body=body, language=lang,
                             priority="reply", kind="sms_reply",
                             idempotency_key=key or f"sms-reply:{row.id}",
                             contact_id=contact.id)
        db.session.commit()
        return row.kind

    def _exit(self, row: InboundSms, contact: Contact) -> str:
        """Do what the USSD "stop everything" does, and answer nothing at all."""
        now = callback_policy.now_utc()
        row.kind, row.command, row.status = "keyword", "exit", "done"
        row.text = ""  # the word itself is a secret of the caller's; keep no copy
        contact.exited_at = now
        subscriptions.unsubscribe_contact(contact.id, channel="exit", ref=f"sms:{row.id}:exit",
                                          now=now)
        self._forget(contact.phone)
        withdrawn = caller_requests.withdraw_for_phone(contact.phone, now,  # commits
                                                       channel="sms")
        log.info("silent exit by SMS from %s (%d request(s) withdrawn)",
                 mask_phone(contact.phone), withdrawn)
        return row.kind

    def _opt(self, row: InboundSms, contact: Contact, command: Command) -> str:
        """STOP: no more bulk messages, one confirmation per opt-out. START undoes it."""
        lang = self._lang(row, contact)
        row.kind, row.command, row.status = "keyword", command.name, "done"
        self._forget(contact.phone)
        if command.name == "stop":
            subscriptions.unsubscribe_contact(contact.id, channel="sms", lang=lang,
                                              ref=f"sms:{row.id}:stop")
            if contact.opted_out_at is None:
                contact.opted_out_at = callback_policy.now_utc()
            since = utc(contact.opted_out_at).isoformat()
            return self._answer(row, contact, self._render(lang, f"{REPLY_FILE}.stop"), lang,
                                key=f"sms-stop:{contact.id}:{since}")
        contact.opted_out_at = None
        return self._answer(row, contact, self._render(lang, f"{REPLY_FILE}.start"), lang)

    def _join(self, row: InboundSms, contact: Contact, command: Command) -> str:
        """JOIN <area>: alerts of every topic for that area, consent in the ledger.

        The area is a name in any language or its number in the list the help
        gives; anything else gets the help, and nothing is subscribed.
        """
        lang = self._lang(row, contact)
        row.kind, row.command, row.status = "keyword", "join", "done"
        area = subscriptions.find_area(command.rest)
        if area is None:
            return self._answer(row, contact, self._render(lang, "alerts.sms.join_help"), lang)
        contact.opted_out_at = None  # asking for alerts is consent to bulk messages again
        subscriptions.subscribe(contact.phone, area.code, subscriptions.TOPICS, channel="sms",
                                lang=lang, ref=f"sms:{row.id}:join")
        body = self.catalog.render(lang, "alerts.sms.joined", {"area_name": area.name(lang)})
        return self._answer(row, contact, body, lang)

    def _for_staff(self, row: InboundSms, contact: Contact, hint: str | None = None,
                   lang: str | None = None) -> str:
        """Attach the text to the sender's open request, else leave it in the inbox.

        Without a conversation the sender also gets the short bilingual help, at most
        once per local day (the outbox's idempotency key is the day).
        """
        row.kind, row.command = "staff", ""
        request = db.session.scalars(
            select(CallbackRequest).where(CallbackRequest.contact_id == contact.id,
                                          CallbackRequest.status == "open")
            .order_by(CallbackRequest.priority, CallbackRequest.created_at)).first()
        if request is not None:
            row.status, row.request_id = "attached", request.id
            db.session.add(CallbackEvent(request_id=request.id, kind="sms", at=row.received_at,
                                         detail="text message from the caller",
                                         note=row.text))
        else:
            row.status = "new"
        if hint is not None:
            return self._answer(row, contact, hint, lang or self._lang(row, contact))
        day = datetime.now(self.tz).date().isoformat()
        body = self.keywords.bilingual(f"{REPLY_FILE}.unknown", self._lang(row, contact),
                                       self.values)
        return self._answer(row, contact, body, self._lang(row, contact),
                            key=f"sms-help:{contact.id}:{day}")

    # --- conversations ---------------------------------------------------------------------

    @staticmethod
    def _key(phone: str) -> str:
        return f"sms:conversation:{phone}"

    def _load(self, phone: str) -> State | None:
        """The conversation under way, if any. Without Redis there is none: keywords and
        texts for staff still work, a conversation starts again from its first question."""
        try:
            raw = self.store.get(self._key(phone))
        except RedisError:
            log.warning("SMS conversation state unavailable (Redis); answering without it")
            return None
        if not raw:
            return None
        try:
            return State.from_dict(json.loads(raw)["state"])
        except (ValueError, KeyError, TypeError):
            return None

    def _save(self, phone: str, state: State) -> None:
        try:
            self.store.set(self._key(phone), json.dumps({"state": state.to_dict()}).encode(),
                           self.ttl)
        except RedisError:
            log.warning("SMS conversation state not kept (Redis)")

    def _forget(self, phone: str) -> None:
        self._drop(self._key(phone))

    def _drop(self, key: str) -> None:
        try:
            self.store.delete(key)
        except RedisError:
            log.warning("SMS state %s not deleted (Redis); it expires by itself",
                        key.split(":")[1])

    def _context(self, row: InboundSms, contact: Contact, state: State) -> dict[str, str]:
        return {"phone": contact.phone, "channel": "sms",
                "session_id": f"sms-{state.vars.get('_started', row.id)}"}

    def _start(self, row: InboundSms, contact: Contact, state: State) -> str:
        row.kind = "conversation"
        state = replace(state, vars={**state.vars, "_started": str(row.id)})
        screen = self.engine_for(row.network_code).render(state)
        return self._reply_screen(row, contact, state, screen.text)

    def _converse(self, row: InboundSms, contact: Contact, state: State) -> str:
        engine = self.engine_for(row.network_code)
        state, screen = engine.step(state, row.text[:200],
                                    self._context(row, contact, state))
        if not menu_input(row.text).isdigit():  # words, not a choice: a person should read them
            return self._for_staff(row, contact, hint=screen.text, lang=state.lang)
        row.kind, row.status = "conversation", "done"
        return self._reply_screen(row, contact, state, screen.text)

    def _reply_screen(self, row: InboundSms, contact: Contact, state: State, text: str) -> str:
        lang = state.lang or self._lang(row, contact)
        if state.ended:
            self._forget(contact.phone)
            quiet = any(state.vars.get(name) == value for name, value in QUIET)
            return self._answer(row, contact, None if quiet else text, lang)
        self._save(contact.phone, state)
        return self._answer(row, contact, text, lang)


# --- topic copies ------------------------------------------------------------------------------

def send_copy(catalog: Catalog, values: Mapping[str, str], *, phone: str, topic: str,
              lang: str | None, idempotency_key: str, default_lang: str) -> bool:
    """Queue the SMS copy of a topic (``awareness.sea``), after the caller said a text is
    safe; False when there is no such copy. Idempotent by ``idempotency_key``."""
    key = f"sms.{topic}"
    lang = lang if lang in catalog.languages else default_lang
    if not topic or not catalog.has(lang, key):
        log.warning("no SMS copy %r to send", key[:60])
        return False
    contact = contacts.get_or_create(phone)
    outbox.queue_sms(db.session, to=phone, body=catalog.render(lang, key, values),
                     language=lang, priority="reply", kind="topic_copy",
                     idempotency_key=idempotency_key, contact_id=contact.id)
    db.session.commit()
    return True
