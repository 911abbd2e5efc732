"""A USSD hop: gateway fields in, screen out, through the flow engine.

State lives in the store under the session id; the reply to each
``(sessionId, text)`` is cached so a repeated hop returns the same screen and
runs nothing again. When the state is missing or out of step with ``text``,
the session is rebuilt by replaying ``text``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline.content import Catalog
from hotline.extensions import db
from hotline.flows import Engine, State
from hotline.models import UssdSession, UssdSessionEnd
from hotline.phones import to_e164
from hotline.privacy import mask_phone
from hotline.services import contacts
from hotline.store import Store

log = logging.getLogger(__name__)

ERROR_KEYS = ("error.unavailable", "error.too_long")


@dataclass(frozen=True)
class UssdHop:
    session_id: str
    service_code: str
    phone: str
    network_code: str
    text: str


@dataclass(frozen=True)
class UssdReply:
    text: str
    end: bool


class UssdService:
    """Serves hops for one app; engines per network code share one graph and catalog."""

    def __init__(self, engine_for: Callable[[str], Engine], catalog: Catalog, store: Store,
                 settings: Mapping[str, Any], service_codes: set[str]) -> None:
        self.engine_for = engine_for
        self.catalog = catalog
        self.store = store
        self.ussd = settings["USSD"]
        self.region = settings.get("DEFAULT_REGION", "SD")
        self.default_lang = settings.get("DEFAULT_LANGUAGE", catalog.languages[0])
        self.service_codes = service_codes

    def bilingual(self, key: str) -> str:
        """A message for someone whose language we do not know: every language, default first."""
        langs = sorted(self.catalog.languages, key=lambda lg: lg != self.default_lang)
        return "\n".join(self.catalog.render(lg, key) for lg in langs)

    def _error(self, key: str, lang: str | None) -> UssdReply:
        text = self.catalog.render(lang, key) if lang in self.catalog.languages \
            else self.bilingual(key)
        return UssdReply(text, end=True)

    def handle(self, hop: UssdHop) -> UssdReply:
        phone = to_e164(hop.phone, self.region)
        if self.service_codes and hop.service_code not in self.service_codes:
            log.warning("USSD for unknown service code %r", hop.service_code[:40])
            return self._error("error.unavailable", None)
        if phone is None:
            log.warning("USSD from an invalid phone number (session %s)", hop.session_id[:40])
            return self._error("error.unavailable", None)
        inputs = hop.text.split("*") if hop.text else []
        if len(hop.text.encode()) > self.ussd["max_text_bytes"] \
                or len(inputs) > self.ussd["max_hops"]:
            return self._error("error.too_long", None)
        reply_key = f"ussd:{hop.session_id}:reply:{hashlib.sha1(hop.text.encode()).hexdigest()}"
        state_key = f"ussd:{hop.session_id}:state"
        raw = self.store.get(state_key) if inputs else None
        state = State.from_dict(json.loads(raw)) if raw else None
        if state is None or state.hops != len(inputs) - 1:
            # Not the hop after the stored state: a repeat, a dial or a lost state. A reply
            # is cached only together with its state, so the next hop has none to find and
            # skips this read (measured by tests/bench/ussd_hops.py).
            cached = self.store.get(reply_key)
            if cached is not None:
                data = json.loads(cached)
                return UssdReply(data["text"], data["end"])
            state = None
        state, reply = self._advance(hop, phone, inputs, state)
        self.store.set_many({  # the reply is cached together with the state it leads to
            state_key: json.dumps(state.to_dict()).encode(),
            reply_key: json.dumps({"text": reply.text, "end": reply.end}).encode(),
        }, self.ussd["session_ttl"])
        return reply

    def _advance(self, hop: UssdHop, phone: str, inputs: list[str], state: State | None
                 ) -> tuple[State, UssdReply]:
        """Begin on a dial, step from a ``state`` one hop behind, else replay ``inputs``."""
        engine = self.engine_for(hop.network_code)
        context = {"phone": phone, "session_id": hop.session_id, "channel": "ussd",
                   "network_code": hop.network_code}
        session = None
        changed_lang = True
        if not inputs:
            session = self._open_session(hop, phone)
            state, screen = engine.begin(session.start_lang, context)
        elif state is not None:
            lang_before = state.lang
            state, screen = engine.step(state, inputs[-1], context)
            # The language is remembered on the hop that chooses it, so most hops need no
            # database at all (measured by tests/bench/ussd_hops.py).
            changed_lang = state.lang != lang_before
        else:
            session = self._find_session(hop, phone)
            log.info("USSD session %s rebuilt by replaying %d input(s)", hop.session_id[:40],
                     len(inputs))
            state, screen = engine.replay(inputs, session.start_lang, context)
        if changed_lang:
            self._remember_language(phone, state.lang, session)
        if db.session().in_transaction():  # also what an action wrote; an empty commit still
            db.session.commit()  # cost 8% of a hop that touched nothing
        return state, UssdReply(screen.text, screen.end)

    def _open_session(self, hop: UssdHop, phone: str) -> UssdSession:
        contact = contacts.get_or_create(phone)
        session = db.session.scalars(
            select(UssdSession).where(UssdSession.session_id == hop.session_id)).one_or_none()
        if session is None:
            session = UssdSession(session_id=hop.session_id, contact_id=contact.id,
                                  service_code=hop.service_code, network_code=hop.network_code,
                                  start_lang=contact.language)
            db.session.add(session)
            db.session.flush()
        return session

    def _find_session(self, hop: UssdHop, phone: str) -> UssdSession:
        session = db.session.scalars(
            select(UssdSession).where(UssdSession.session_id == hop.session_id)).one_or_none()
        return session or self._open_session(hop, phone)

    def _remember_language(self, phone: str, lang: str | None, session: UssdSession | None
                           ) -> None:
        if lang is None:
            return
        contact = session.contact if session is not None else contacts.find(phone)
        if contact is not None and contact.language != lang:
            contact.language = lang
            log.info("contact %s now reads %s", mask_phone(phone), lang)


def record_end(fields: Mapping[str, str], region: str) -> bool:
    """Store an end-of-session notification once; a repeat changes nothing (returns False)."""
    session_id = fields["sessionId"]
    exists = db.session.scalars(
        select(UssdSessionEnd.id).where(UssdSessionEnd.session_id == session_id)).first()
    if exists:
        return False
    phone = to_e164(fields.get("phoneNumber"), region)
    contact = contacts.find(phone) if phone else None

    def number(name: str) -> int | None:
        value = fields.get(name, "")
        return int(value) if value.isdigit() and len(value) < 12 else None

    db.session.add(UssdSessionEnd(
        session_id=session_id, contact_id=contact.id if contact else None,
        service_code=fields.get("serviceCode", "")[:40],
        network_code=fields.get("networkCode", "")[:10],
        status=fields.get("status", "")[:20] or "Unknown",
        duration_ms=number("durationInMillis"), hops_count=number("hopsCount"),
        input=fields.get("input", "")[:4000],
        last_app_response=fields.get("lastAppResponse", "")[:4000],
        error_message=fields.get("errorMessage", "")[:4000],
        cost=fields.get("cost", "")[:40], gateway_date=fields.get("date", "")[:40],
    ))
    try:
        db.session.commit()
    except IntegrityError:  # the same notification, delivered twice at once
        db.session.rollback()
        return False
    return True
