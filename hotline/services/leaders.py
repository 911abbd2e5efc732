"""Community leaders: who may send alerts, to which areas, and their PIN.

A leader is known by one phone number; the USSD menu offers "Send a community
alert" only to that number, and every step checks again here. The PIN is set
on first use and stored as an argon2 hash; ``pin_tries`` wrong PINs in a row
lock sending for ``pin_lock_minutes`` and tell staff (audit log and the leaders
page). Each PIN entry is recorded once per session and try, so a session
rebuilt by replaying its inputs neither counts a wrong PIN twice nor changes
an answer already given.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from hotline import areas
from hotline.errors import HotlineError
from hotline.extensions import db
from hotline.models import AuditLog, Leader, LeaderPinAttempt
from hotline.phones import to_e164
from hotline.privacy import mask_phone

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
NAME = re.compile(r"^[^\x00-\x1f<>{}]{2,120}$")
MAX_DAILY_LIMIT = 20


class LeaderError(HotlineError):
    """A leader record that cannot be saved; the message says why, for the form."""


@dataclass(frozen=True)
class PinResult:
    outcome: str  # ok|wrong|locked|none
    tries: int = 0


def settings() -> dict:
    return current_app.config["ALERTS"]


def now_utc() -> datetime:
    """The current time; tests replace it."""
    return datetime.now(UTC)


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def for_phone(phone: str) -> Leader | None:
    """The active leader registered with this number, if any."""
    return db.session.scalars(select(Leader).where(Leader.phone == phone,
                                                   Leader.active.is_(True))).one_or_none()


def validate(name: str, phone: str, area_codes: list[str], daily_limit: str | int
             ) -> tuple[str, str, list[str], int]:
    """Form values as stored; LeaderError names the first field that is wrong."""
    name = " ".join((name or "").split())
    if not NAME.match(name):
        raise LeaderError("Name: 2 to 120 characters, no < > { }.")
    e164 = to_e164((phone or "").strip()[:30], current_app.config["DEFAULT_REGION"])
    if e164 is None:
        raise LeaderError("Phone: not a valid mobile number.")
    known = areas.load()
    codes = list(dict.fromkeys(c for c in area_codes if c))
    if not codes or any(known.get(c) is None for c in codes):
        raise LeaderError("Areas: choose at least one of the listed areas.")
    try:
        limit = int(str(daily_limit).strip())
    except ValueError:
        raise LeaderError("Daily limit: a whole number.") from None
    if not 1 <= limit <= MAX_DAILY_LIMIT:
        raise LeaderError(f"Daily limit: from 1 to {MAX_DAILY_LIMIT}.")
    return name, e164, codes, limit


def register(name: str, phone: str, area_codes: list[str], daily_limit: str | int,
             staff_id: int) -> Leader:
    name, e164, codes, limit = validate(name, phone, area_codes, daily_limit)
    existing = db.session.scalars(select(Leader).where(Leader.phone == e164)).one_or_none()
    if existing is not None and existing.active:
        raise LeaderError("Phone: this number is already a leader.")
    leader = existing or Leader(phone=e164)
    leader.name, leader.areas, leader.daily_limit, leader.active = name, ",".join(codes), \
        limit, True
    leader.created_by_id = leader.created_by_id or staff_id
    if existing is None:
        db.session.add(leader)
    db.session.flush()
    _audit(staff_id, "leader_register", leader, f"areas {','.join(codes)}, limit {limit}")
    db.session.commit()
    return leader


def update(leader_id: int, name: str, area_codes: list[str], daily_limit: str | int,
           staff_id: int) -> Leader:
    leader = db.session.get(Leader, leader_id)
    if leader is None:
        raise LeaderError("No such leader.")
    name, _, codes, limit = validate(name, leader.phone, area_codes, daily_limit)
    leader.name, leader.areas, leader.daily_limit = name, ",".join(codes), limit
    _audit(staff_id, "leader_update", leader, f"areas {','.join(codes)}, limit {limit}")
    db.session.commit()
    return leader


def set_active(leader_id: int, active: bool, staff_id: int) -> Leader:
    leader = db.session.get(Leader, leader_id)
    if leader is None:
        raise LeaderError("No such leader.")
    leader.active = active
    _audit(staff_id, "leader_enable" if active else "leader_disable", leader)
    db.session.commit()
    return leader


def reset_pin(leader_id: int, staff_id: int) -> Leader:
    """The leader chooses a new PIN on next use; any lock ends."""
    leader = db.session.get(Leader, leader_id)
    if leader is None:
        raise LeaderError("No such leader.")
    leader.pin_hash, leader.pin_failures, leader.locked_until = None, 0, None
    _audit(staff_id, "leader_reset_pin", leader)
    db.session.commit()
    return leader


def _audit(staff_id: int | None, action: str, leader: Leader, detail: str = "") -> None:
    db.session.add(AuditLog(staff_id=staff_id, action=action, target=f"leader:{leader.id}",
                            detail=detail[:300]))


def listing() -> list[Leader]:
    return list(db.session.scalars(select(Leader).order_by(Leader.active.desc(), Leader.name)))


def locked(leader: Leader, now: datetime | None = None) -> bool:
    until = _aware(leader.locked_until)
    return until is not None and until > (now or now_utc())


def begin(phone: str) -> tuple[str, Leader | None]:
    """Where a leader's session starts: none, locked, new (no PIN yet) or ok."""
    leader = for_phone(phone)
    if leader is None:
        return "none", None
    if locked(leader):
        return "locked", leader
    return ("new" if leader.pin_hash is None else "ok"), leader


def weak(pin: str) -> bool:
    """One digit repeated, or a run up or down (1234, 9876): the first PINs anyone tries."""
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return len(steps) == 1 and steps <= {-1, 0, 1}


def set_pin(phone: str, pin: str, again: str) -> str:
    """First use: ok, differ (the two entries differ), weak, or none (not a leader / set)."""
    leader = for_phone(phone)
    if leader is None or locked(leader):
        return "none"
    if leader.pin_hash is not None:  # a replay of the session that set it
        return "ok" if _matches(leader, pin) else "none"
    if not (pin.isdigit() and 4 <= len(pin) <= 6) or pin != again:
        return "differ"
    if weak(pin):
        return "weak"
    leader.pin_hash = _hasher.hash(pin)
    return "ok"


def _matches(leader: Leader, pin: str) -> bool:
    try:
        return bool(leader.pin_hash) and _hasher.verify(leader.pin_hash or "", pin)
    except (VerificationError, InvalidHashError):
        return False


def check_pin(phone: str, pin: str, key: str) -> PinResult:
    """Verify a PIN entry identified by ``key`` (session and try number)."""
    leader = for_phone(phone)
    if leader is None:
        return PinResult("none")
    seen = db.session.scalars(select(LeaderPinAttempt).where(
        LeaderPinAttempt.key == key[:140])).one_or_none()
    if seen is not None:  # a replayed session: the answer it got then
        return PinResult("ok" if seen.ok else ("locked" if locked(leader) else "wrong"))
    now = now_utc()
    if locked(leader, now):
        return PinResult("locked")
    ok = _matches(leader, pin)
    db.session.add(LeaderPinAttempt(leader_id=leader.id, key=key[:140], ok=ok, at=now))
    if ok:
        leader.pin_failures = 0
        return PinResult("ok")
    leader.pin_failures += 1
    if leader.pin_failures >= int(settings()["pin_tries"]):
        leader.pin_failures = 0
        leader.locked_until = now + timedelta(minutes=int(settings()["pin_lock_minutes"]))
        _audit(None, "leader_pin_locked", leader,
               f"{settings()['pin_tries']} wrong PINs from {mask_phone(phone)}")
        _tell_oncall(leader)
        log.warning("leader %s locked after wrong PINs", leader.id)
        return PinResult("locked")
    return PinResult("wrong", leader.pin_failures)


def _tell_oncall(leader: Leader) -> None:
    """Staff on call hear of a lock by SMS (the leader's name, never the number)."""
    from hotline.services.outbox import queue_sms

    catalog = current_app.extensions["hotline.catalog"]
    cfg = current_app.config["OUTBOX"]
    lang = cfg.get("oncall_language") or current_app.config["DEFAULT_LANGUAGE"]
    lang = lang if lang in catalog.languages else current_app.config["DEFAULT_LANGUAGE"]
    body = catalog.render(lang, "alerts.sms.pin_locked", {"leader": leader.name[:20]})
    until = leader.locked_until.isoformat() if leader.locked_until else ""
    for number in (str(n).strip() for n in cfg.get("oncall_numbers") or []):
        if number:
            queue_sms(db.session, to=number, body=body, language=lang, priority="reply",
                      kind="oncall", idempotency_key=f"leader-lock-{leader.id}-{until}"[:100]
                      + f"-{number}")


def scope(leader: Leader) -> list[str]:
    """The leader's areas that still exist in the configuration."""
    known = areas.load()
    return [c for c in leader.area_codes if known.get(c) is not None]


