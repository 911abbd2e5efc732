"""Broadcasts: an alert to the subscribers of some areas, from confirmation to fan-out.

A leader's broadcast is keyed by the USSD session that confirmed it, so the
same confirmation sent twice (or a session replayed) finds the broadcast it
made instead of making another. Nothing here sends: the fan-out job turns a
broadcast into outbox rows.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from hotline import alerttexts, areas
from hotline.alerttexts import Template
from hotline.extensions import db
from hotline.models import AuditLog, Broadcast, Leader
from hotline.services import leaders, subscriptions
from hotline.textcodec import sms_parts

OPEN = ("pending", "queued", "held", "sending", "paused")
CLOSED = ("done", "cancelled", "expired", "rejected")


@dataclass(frozen=True)
class Preview:
    outcome: str  # ok|none|limit|invalid
    count: int = 0
    parts: int = 0
    broadcast: Broadcast | None = None


def templates() -> Mapping[str, Template]:
    return current_app.extensions["hotline.alert_templates"]


def catalog():
    return current_app.extensions["hotline.catalog"]


def parts_of(template: Template, fields: Mapping[str, str], area_code: str) -> int:
    """The most SMS parts the alert takes in any language subscribers read."""
    area = areas.load().get(area_code)
    cat = catalog()
    return max(sms_parts(alerttexts.render(cat, lang, template, fields,
                                           area.name(lang) if area else ""))
               for lang in cat.languages)


def _valid_fields(template: Template, fields: Mapping[str, str]) -> dict[str, str] | None:
    """The template's fields as they will be printed, or None when one is missing or bad."""
    clean: dict[str, str] = {}
    for name in template.fields:
        if name == "area":
            continue
        value = fields.get(name, "")
        if name == "day":
            if value not in alerttexts.DAYS:
                return None
        elif name == "place":
            placed = alerttexts.clean_place(value, int(current_app.config["ALERTS"]["place_max"]))
            if placed is None:
                return None
            value = placed
        clean[name] = value
    return clean


def local_day_start(now: datetime) -> datetime:
    tz = ZoneInfo(current_app.config.get("TIMEZONE", "Africa/Khartoum"))
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def sent_today(leader: Leader, now: datetime) -> int:
    return int(db.session.scalar(select(func.count()).select_from(Broadcast).where(
        Broadcast.leader_id == leader.id, Broadcast.created_at >= local_day_start(now),
        Broadcast.status.notin_(("cancelled", "rejected")))) or 0)


def check_leader_alert(phone: str, template_name: str, fields: Mapping[str, str],
                       area_code: str, key: str | None = None) -> Preview:
    """Everything a leader's alert must pass, checked in the database, not trusted from
    the session: a registered, unlocked leader; an approved template with valid
    fields; one of the leader's own areas; the daily limit; someone to send to."""
    leader = leaders.for_phone(phone)
    template = templates().get(template_name)
    if leader is None or leaders.locked(leader) or template is None:
        return Preview("invalid")
    if key is not None:
        existing = db.session.scalars(select(Broadcast).where(Broadcast.key == key)
                                      ).one_or_none()
        if existing is not None:  # this confirmation was handled before
            return Preview("ok", existing.recipients, existing.parts, existing)
    clean = _valid_fields(template, fields)
    if clean is None or area_code not in leaders.scope(leader):
        return Preview("invalid")
    now = leaders.now_utc()
    if sent_today(leader, now) >= leader.daily_limit:
        return Preview("limit")
    count = subscriptions.count_reachable([area_code], template.topic)
    if count == 0:
        return Preview("none")
    return Preview("ok", count, parts_of(template, clean, area_code))


def new_ref() -> str:
    return "".join(secrets.choice("23456789") for _ in range(6))


def create_from_leader(phone: str, template_name: str, fields: Mapping[str, str],
                       area_code: str, key: str) -> Preview:
    """Confirm a leader's alert (the caller commits); the same ``key`` makes it once."""
    checked = check_leader_alert(phone, template_name, fields, area_code, key)
    if checked.outcome != "ok" or checked.broadcast is not None:
        return checked
    leader = leaders.for_phone(phone)
    template = templates()[template_name]
    now = leaders.now_utc()
    hours = int(current_app.config["ALERTS"]["expiry_hours"])
    broadcast = Broadcast(
        key=key[:140], leader_id=leader.id if leader else None, template=template.name,
        fields=json.dumps(_valid_fields(template, fields) or {}, sort_keys=True),
        areas=area_code, topic=template.topic, urgent=template.urgent, status="queued",
        recipients=checked.count, parts=checked.parts, created_at=now,
        expires_at=now + timedelta(hours=hours))
    db.session.add(broadcast)
    db.session.flush()
    db.session.add(AuditLog(staff_id=None, action="broadcast_confirm",
                            target=f"broadcast:{broadcast.id}",
                            detail=f"leader {broadcast.leader_id}, {template.name}, "
                                   f"{area_code}, {checked.count} recipients"))
    return Preview("ok", checked.count, checked.parts, broadcast)


def ref_of(broadcast: Broadcast) -> str:
    """What a leader reads as the alert's reference."""
    return f"A{broadcast.id}"


def settings() -> Mapping:
    return current_app.config["ALERTS"]
