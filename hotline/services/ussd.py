"""A USSD hop: gateway fields in, screen out, through the flow engine.

One record per session lives in the store: a keyed digest of the last hop's
``text`` (never the text: it holds every answer typed, a leader's PIN among them),
the state it led to and the reply it got, so a repeated hop returns the same screen
and runs nothing again, and a normal hop costs one read and one write. When the
record is missing or out of step with ``text``, the session is rebuilt by replaying
``text`` from the language it started in, which the dial recorded in the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, bindparam, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from hotline import driversql
from hotline.content import Catalog
from hotline.deadline import DeadlineExceeded
from hotline.extensions import db
from hotline.flows import Engine, State
from hotline.logs import Every
from hotline.models import Leader, UssdSession, UssdSessionEnd, utcnow
from hotline.phones import to_e164
from hotline.privacy import mask_phone
from hotline.services import contacts
from hotline.store import Store

log = logging.getLogger(__name__)
# PostgreSQL down, slow or cut off (lost connections, timeouts, lock waits); other
# database errors are bugs and are logged in full.
DEPENDENCY_ERRORS = (OperationalError, InterfaceError, PoolTimeout, DeadlineExceeded)

ERROR_KEYS = ("error.unavailable", "error.too_long", "error.busy")


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


@dataclass(frozen=True)
class Record:
    """What the store keeps of a session between hops: one flat JSON array, read and
    written on every hop (nested objects rebuilt field by field cost twice the CPU)."""

    text_digest: str  # UssdService.digest of the last hop's text (the inputs, never kept)
    state: State  # where that hop left the caller
    reply: UssdReply  # what it answered
    raw_phone: str  # phoneNumber as sent, and its E.164 form: parsed once per session
    phone: str

    def dumps(self) -> bytes:
        state = self.state
        return _encode([RECORD_FORMAT, self.text_digest, state.node, state.lang, state.page,
                        state.history, state.vars, state.hops, state.ended, state.private,
                        self.reply.text, self.reply.end, self.raw_phone, self.phone]).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Record | None:
        """None for anything unreadable (another format, a cut write): the hop is then
        replayed, not failed."""
        try:
            (form, text_digest, node, lang, page, history, vars, hops, ended, private, reply,
             end, raw_phone, phone) = json.loads(raw)
            if form != RECORD_FORMAT or not isinstance(vars, dict):
                return None
            state = State(node, lang, page, tuple((str(n), int(p)) for n, p in history),
                          vars, hops, ended, private)
            return cls(text_digest, state, UssdReply(reply, end), raw_phone, phone)
        except (ValueError, TypeError):
            return None


RECORD_FORMAT = 3  # the first element of a stored record; older records are replayed
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class UssdService:
    """Serves hops for one app; engines per network code share one graph and catalog."""

    def __init__(self, engine_for: Callable[[str], Engine], catalog: Catalog, store: Store,
                 settings: Mapping[str, Any], service_codes: set[str],
                 every: Every | None = None) -> None:
        self.engine_for = engine_for
        self.catalog = catalog
        self.store = store
        self.ussd = settings["USSD"]
        self.region = settings["DEFAULT_REGION"]
        self.default_lang = settings["DEFAULT_LANGUAGE"]
        self.service_codes = service_codes
        self._digest_key = hashlib.blake2b((settings.get("SECRET_KEY") or "").encode(),
                                           digest_size=32).digest()
        self.every = every or Every(log, 60)
        limits = settings["LIMITS"]
        # A dial is turned away sooner than a hop of a session already under way: callers
        # inside are served first, and a new caller loses least (one dial, no progress).
        self.busy_after = (float(limits["ussd_busy_dial_seconds"]),
                           float(limits["ussd_busy_hop_seconds"]))

    def digest(self, session_id: str, text: str) -> str:
        """What the record keeps of a hop's ``text``: enough to tell the same hop sent
        again, or the next one, and nothing to read back. Keyed with the app's secret, as
        four digits (a PIN) are too few to hide behind a plain hash."""
        return hashlib.blake2b(f"{session_id}\n{text}".encode(), key=self._digest_key,
                               digest_size=16).hexdigest()

    def bilingual(self, key: str) -> str:
        """A message for someone whose language we do not know: every language, default first."""
        langs = sorted(self.catalog.languages, key=lambda lg: lg != self.default_lang)
        return "\n".join(self.catalog.render(lg, key) for lg in langs)

    def _error(self, key: str, lang: str | None) -> UssdReply:
        text = self.catalog.render(lang, key) if lang in self.catalog.languages \
            else self.bilingual(key)
        return UssdReply(text, end=True)

    def _record(self, hop: UssdHop) -> Record | None:
        raw = self.store.get(f"ussd:{hop.session_id}")
        return Record.loads(raw) if raw else None

    def known_language(self, hop: UssdHop, *, ask_database: bool = True) -> str | None:
        """The caller's language if we know it (a session in progress, a returning caller),
        for an error screen in that language only; None when unknown or unreadable."""
        try:
            record = self._record(hop)
            if record is not None and record.state.lang:
                return record.state.lang
            phone = to_e164(hop.phone, self.region) if ask_database else None
            contact = contacts.find(phone) if phone else None
            return contact.language if contact is not None else None
        except Exception:  # an error screen must not fail: then it is in every language
            log.warning("caller's language unknown for an error screen (session %s)",
                        hop.session_id[:40])
            db.session.rollback()
            return None

    def error_reply(self, hop: UssdHop, key: str = "error.unavailable", *,
                    ask_database: bool = True) -> UssdReply:
        return self._error(key, self.known_language(hop, ask_database=ask_database))

    def too_busy(self, hop: UssdHop, waited: float | None) -> bool:
        """Whether the hop waited for a thread so long that it must be turned away."""
        return waited is not None and waited > self.busy_after[bool(hop.text)]

    def busy(self, hop: UssdHop) -> UssdReply:
        """A short END "busy, dial again": no database, at most one Redis read (the
        language of a session under way; a dial gets every language), nothing stored."""
        self.every.warning("busy", "overloaded: USSD hops that waited too long for a thread "
                           "answer 'busy, dial again'")
        lang = self.known_language(hop, ask_database=False) if hop.text else None
        return self._error("error.busy", lang)

    def handle(self, hop: UssdHop, waited: float | None = None) -> UssdReply:
        """The hop's screen; when PostgreSQL fails or the hop's deadline passes, a clean END
        in the caller's language (both languages when it is not known yet). A hop that
        ``waited`` too long for a thread (seconds; None: unknown) is answered "busy"."""
        if self.too_busy(hop, waited):
            return self.busy(hop)
        seen: dict[str, str | None] = {"lang": None}
        try:
            return self._handle(hop, seen)
        except DEPENDENCY_ERRORS as exc:  # down or slow: said once a minute, not per hop
            if db.session.registry.has():
                db.session.rollback()
            self.every.warning(f"hop:{type(exc).__name__}", "USSD hops answer 'unavailable': "
                               "%s (%s)", type(exc).__name__, str(exc).splitlines()[0][:200]
                               if str(exc) else "")
        except Exception:  # a bug: the caller gets a clean END, the log gets the details
            if db.session.registry.has():
                db.session.rollback()
            log.exception("USSD hop failed (session %s)", hop.session_id[:40])
        return self._error("error.unavailable", seen["lang"])

    def _handle(self, hop: UssdHop, seen: dict[str, str | None]) -> UssdReply:
        if self.service_codes and hop.service_code not in self.service_codes:
            log.warning("USSD for unknown service code %r", hop.service_code[:40])
            return self.error_reply(hop)
        inputs = hop.text.split("*") if hop.text else []
        if len(hop.text.encode()) > self.ussd["max_text_bytes"] \
                or len(inputs) > self.ussd["max_hops"]:
            return self.error_reply(hop, "error.too_long")
        key = f"ussd:{hop.session_id}"
        record = self._record(hop)
        if record is not None:
            seen["lang"] = record.state.lang
        text_digest = self.digest(hop.session_id, hop.text)
        if record is not None and record.text_digest == text_digest:  # the gateway sent a hop again
            return record.reply
        if record is not None and record.raw_phone == hop.phone:
            phone: str | None = record.phone
        else:
            phone = to_e164(hop.phone, self.region)
        if phone is None:
            log.warning("USSD from an invalid phone number (session %s)", hop.session_id[:40])
            return self._error("error.unavailable", None)
        state = None  # a dial, a lost record or a hop out of step: begin or replay
        if record is not None and inputs and record.state.hops == len(inputs) - 1 \
                and self.digest(hop.session_id, "*".join(inputs[:-1])) == record.text_digest:
            state = record.state
        state, reply = self._advance(hop, phone, inputs, state, seen)
        if state.private:  # e.g. "not safe to call": the path that led here is kept nowhere;
            self.store.delete(key)  # any further hop of this session is rebuilt by replay
            return reply
        if record is not None and record.state.hops > len(inputs):
            # An older hop sent again (a session's texts only grow): answered, the newer
            # record kept.
            return reply
        self.store.set(key, Record(text_digest, state, reply, hop.phone, phone).dumps(),
                       self.ussd["session_ttl"])
        return reply

    def _advance(self, hop: UssdHop, phone: str, inputs: list[str], state: State | None,
                 seen: dict[str, str | None]) -> tuple[State, UssdReply]:
        """Begin on a dial, step from a ``state`` one hop behind, else replay ``inputs``."""
        engine = self.engine_for(hop.network_code)
        context = {"phone": phone, "session_id": hop.session_id, "channel": "ussd"}
        if not inputs:
            seen["lang"], known, lang_before = open_session(hop, phone)
            state, screen = engine.begin(seen["lang"], context, known)
        elif state is not None:
            lang_before = state.lang
            state, screen = engine.step(state, inputs[-1], context)
        else:
            log.info("USSD session %s rebuilt by replaying %d input(s)", hop.session_id[:40],
                     len(inputs))
            # the caller's language as stored now: a replay writes it only if it differs
            seen["lang"], known, lang_before = open_session(hop, phone)
            state, screen = engine.replay(inputs, seen["lang"], context, known)
        seen["lang"] = state.lang or seen["lang"]
        if db.session.registry.has() and db.session().in_transaction():
            db.session.commit()  # what an action wrote; most hops never open a session
        if state.lang is not None and state.lang != lang_before:
            # Remembered on the hop that chooses it, so most hops need no database at all
            # (measured by tests/bench/ussd_hops.py); a replay only if it is not stored yet.
            try:
                if contacts.remember_language(phone, state.lang):
                    log.info("contact %s now reads %s", mask_phone(phone), state.lang)
            except Exception:  # the screen (perhaps a stored request) still goes out
                log.warning("language of contact %s not remembered", mask_phone(phone),
                            exc_info=True)
        return state, UssdReply(screen.text, screen.end)


    def is_private(self, fields: Mapping[str, str]) -> bool:
        """Whether an ended session passed a private node, judged from the gateway's
        ``input`` path alone (nothing about the choice was kept to look up)."""
        inputs = fields.get("input", "").split("*") if fields.get("input") else []
        if len(inputs) > self.ussd["max_hops"]:
            return True
        lang = db.session.scalar(START_LANG, {"p_sid": fields.get("sessionId", "")[:100]})
        # A leader's menu has one more entry; walked without it, a leader's path (with
        # the PIN typed in it) would be read as a walk through other menus and kept.
        phone = to_e164(fields.get("phoneNumber"), self.region)
        known = {"leader": "1"} if phone and db.session.scalar(IS_LEADER, {"p_phone": phone}) \
            else {}
        return self.engine_for(fields.get("networkCode", "")[:10]).private_path(inputs, lang,
                                                                                known)


@cache
def _open(dialect: str) -> Insert:
    return (contacts.insert_for(dialect)(UssdSession)
            .values(session_id=bindparam("p_sid"), contact_id=bindparam("p_contact"),
                    service_code=bindparam("p_code"), network_code=bindparam("p_net"),
                    start_lang=bindparam("p_lang"), started_at=bindparam("p_now"))
            .on_conflict_do_nothing(index_elements=[UssdSession.session_id])
            .returning(UssdSession.id))


START_LANG = select(UssdSession.start_lang).where(UssdSession.session_id == bindparam("p_sid"))
IS_LEADER = select(Leader.id).where(Leader.phone == bindparam("p_phone"), Leader.active.is_(True))


# PostgreSQL: touch the contact, insert the session and read its language in one
# statement (one round trip on a dial instead of two or three). ``earlier`` is the
# language of a session row that existed before (``existed``: NULL there is a session
# begun before any language): the statement's snapshot cannot see the row its own insert
# adds, so it is the replay's answer when nothing was added. ``current`` is the caller's
# language as stored now. Written as SQL and run on the driver (``hotline.driversql``):
# built with SQLAlchemy's constructs and run through its execute, the statement cost
# about twice the CPU per dial.
DIAL = """
WITH contact AS (
    INSERT INTO contacts (phone, created_at, last_seen_at)
    VALUES (%(p_phone)s, %(p_now)s, %(p_now)s)
    ON CONFLICT (phone) DO UPDATE SET last_seen_at = %(p_now)s
    RETURNING id, language
), added AS (
    INSERT INTO ussd_sessions (session_id, contact_id, service_code, network_code,
                               start_lang, started_at)
    SELECT %(p_sid)s, contact.id, %(p_code)s, %(p_net)s, contact.language, %(p_now)s
    FROM contact
    ON CONFLICT (session_id) DO NOTHING
    RETURNING start_lang
)
SELECT EXISTS (SELECT FROM added) AS created,
       (SELECT start_lang FROM added) AS lang,
       (SELECT start_lang FROM ussd_sessions WHERE session_id = %(p_sid)s) AS earlier,
       EXISTS (SELECT FROM ussd_sessions WHERE session_id = %(p_sid)s) AS existed,
       EXISTS (SELECT FROM leaders WHERE phone = %(p_phone)s AND active) AS leader,
       (SELECT language FROM contact) AS current
"""
SESSION_LANG = "SELECT start_lang FROM ussd_sessions WHERE session_id = %(p_sid)s"


Opened = tuple[str | None, dict[str, str], str | None]


def open_session(hop: UssdHop, phone: str) -> Opened:
    """Record a dial; the language the session starts in, the same on every replay, what
    the menus need to know of the caller (a registered leader sees one more entry), and
    the caller's language as stored now (a replay need not write it again).
    Idempotent, so tried once more on a connection found dead (``contacts.once_more``)."""
    return contacts.once_more(lambda: _open_session(hop, phone))


def _open_session(hop: UssdHop, phone: str) -> Opened:
    values = {"p_sid": hop.session_id, "p_code": hop.service_code[:40],
              "p_net": hop.network_code, "p_phone": phone, "p_now": utcnow()}
    engine = contacts.autocommit_engine()
    if engine.dialect.name == "postgresql":
        row = driversql.fetch_one(engine, DIAL, values)
        assert row is not None  # the statement's last SELECT always has its one row
        created, lang, earlier, existed, leader, current = row
        known = {"leader": "1"} if leader else {}
        if created:
            return lang, known, current
        if existed:  # a replay: the language it began in (None: none chosen yet)
            return earlier, known, current
        # The same dial racing in another request, not yet committed when this
        # statement began: ask again.
        again = driversql.fetch_one(engine, SESSION_LANG, {"p_sid": hop.session_id})
        return (again[0] if again else None), known, current
    with contacts.autocommit() as conn:
        contact_id, lang = contacts.touch(conn, phone)
        added = conn.execute(_open(conn.dialect.name), {
            **values, "p_contact": contact_id, "p_lang": lang}).first()
        known = {"leader": "1"} if conn.scalar(IS_LEADER, {"p_phone": phone}) else {}
        if added is not None:
            return lang, known, lang
        return conn.scalar(START_LANG, {"p_sid": hop.session_id}), known, lang


def record_end(fields: Mapping[str, str], region: str, private: bool = False) -> bool:
    """Store an end-of-session notification once; a repeat changes nothing (returns False).

    For a ``private`` session the path (``input``) and the last screen are not kept:
    with the number, they would say what the caller chose.
    """
    session_id = fields["sessionId"]
    exists = db.session.scalars(
        select(UssdSessionEnd.id).where(UssdSessionEnd.session_id == session_id)).first()
    if exists:
        return False
    phone = to_e164(fields.get("phoneNumber"), region)
    contact = contacts.find(phone) if phone else None

    def number(name: str) -> int | None:
        value = fields.get(name, "")
        # an integer column: out of its range is "not given", never a database error
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None

    db.session.add(UssdSessionEnd(
        session_id=session_id, contact_id=contact.id if contact else None,
        service_code=fields.get("serviceCode", "")[:40],
        network_code=fields.get("networkCode", "")[:10],
        status=fields.get("status", "")[:20] or "Unknown",
        duration_ms=number("durationInMillis"), hops_count=number("hopsCount"),
        input="" if private else fields.get("input", "")[:4000],
        last_app_response="" if private else fields.get("lastAppResponse", "")[:4000],
        error_message=fields.get("errorMessage", "")[:4000],
        cost=fields.get("cost", "")[:40], gateway_date=fields.get("date", "")[:40],
    ))
    try:
        db.session.commit()
    except IntegrityError:  # the same notification, delivered twice at once
        db.session.rollback()
        return False
    return True
