"""Broadcasts: an alert to the subscribers of some areas, from confirmation to fan-out.

A leader's broadcast is keyed by the USSD session that confirmed it, so the
same confirmation sent twice (or a session replayed) finds the broadcast it
made instead of making another. Nothing here sends: the fan-out job turns a
broadcast into outbox rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import event, func, select, text, update

from hotline import alerttexts, areas
from hotline.alerttexts import Template
from hotline.errors import CodedError
from hotline.extensions import db
from hotline.models import AuditLog, Broadcast, Contact, Leader, OutboxMessage, Subscription
from hotline.services import leaders, subscriptions
from hotline.textcodec import measure, sms_parts

log = logging.getLogger(__name__)

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
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    local = now.astimezone(tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def sent_today(leader: Leader, now: datetime) -> int:
    return int(db.session.scalar(select(func.count()).select_from(Broadcast).where(
        Broadcast.leader_id == leader.id, Broadcast.created_at >= local_day_start(now),
        Broadcast.status.notin_(("cancelled", "rejected")))) or 0)


def _leader_gate(phone: str, key: str | None) -> tuple[Leader | None, Preview | None]:
    """The leader behind ``phone`` when they may send now; else (None, the answer). A
    ``key`` already used answers with the broadcast it made (a repeated confirmation)."""
    leader = leaders.for_phone(phone)
    if leader is None or leaders.locked(leader):
        return None, Preview("invalid")
    if key is not None:
        existing = db.session.scalars(select(Broadcast).where(Broadcast.key == key)
                                      ).one_or_none()
        if existing is not None:  # this confirmation was handled before
            return None, Preview("ok", existing.recipients, existing.parts, existing)
    return leader, None


def _reach(leader: Leader, area_code: str, topic: str) -> Preview:
    """Scope, the daily limit (alerts waiting for approval count) and someone to send to."""
    if area_code not in leaders.scope(leader):
        return Preview("invalid")
    if sent_today(leader, leaders.now_utc()) >= leader.daily_limit:
        return Preview("limit")
    count = subscriptions.count_reachable([area_code], topic)
    return Preview("ok", count) if count else Preview("none")


def check_leader_alert(phone: str, template_name: str, fields: Mapping[str, str],
                       area_code: str, key: str | None = None) -> Preview:
    """Everything a leader's alert must pass, checked in the database, not trusted from
    the session: a registered, unlocked leader; an approved template with valid
    fields; one of the leader's own areas; the daily limit; someone to send to."""
    template = templates().get(template_name)
    leader, answer = _leader_gate(phone, key)
    if template is None:
        return Preview("invalid")
    if leader is None:
        return answer or Preview("invalid")
    clean = _valid_fields(template, fields)
    if clean is None:
        return Preview("invalid")
    reach = _reach(leader, area_code, template.topic)
    if reach.outcome != "ok":
        return reach
    return Preview("ok", reach.count, parts_of(template, clean, area_code))


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
    start(broadcast)
    return Preview("ok", checked.count, checked.parts, broadcast)


OWN_TOPIC = "safety"  # what subscribers chose that a leader's own message counts as


def own_parts(text: str, lang: str) -> int:
    """SMS parts of a leader's message with its sign-off (GSM-7 or UCS-2, as typed)."""
    return sms_parts(alerttexts.with_signoff(catalog(), lang, text))


def check_leader_own(phone: str, typed: str, area_code: str, key: str | None = None
                     ) -> Preview:
    """A leader's own message: the same gate, scope and limit as a template, text rules
    checked again (never trusted from the session), and the parts it takes."""
    leader, answer = _leader_gate(phone, key)
    if leader is None:
        return answer or Preview("invalid")
    text = alerttexts.clean_own(typed, int(settings()["own_max"]))
    if text is None:
        return Preview("invalid")
    parts = own_parts(text, alerttexts.written_in(text, catalog().languages))
    if parts > int(settings()["max_parts"]):
        return Preview("invalid")
    reach = _reach(leader, area_code, OWN_TOPIC)
    if reach.outcome != "ok":
        return reach
    return Preview("ok", reach.count, parts)


def create_own_from_leader(phone: str, typed: str, area_code: str, key: str) -> Preview:
    """Confirm a leader's own message (the caller commits): it waits for a supervisor's
    approval and sends nothing yet; the same ``key`` makes it once."""
    checked = check_leader_own(phone, typed, area_code, key)
    if checked.outcome != "ok" or checked.broadcast is not None:
        return checked
    leader = leaders.for_phone(phone)
    text = alerttexts.clean_own(typed, int(settings()["own_max"])) or ""
    lang = alerttexts.written_in(text, catalog().languages)
    now = leaders.now_utc()
    broadcast = Broadcast(
        key=key[:140], leader_id=leader.id if leader else None, template="",
        texts=json.dumps({lang: text}, ensure_ascii=False), areas=area_code, topic=OWN_TOPIC,
        urgent=False, status="pending", recipients=checked.count, parts=checked.parts,
        created_at=now, expires_at=now + timedelta(hours=int(settings()["expiry_hours"])))
    db.session.add(broadcast)
    db.session.flush()
    db.session.add(AuditLog(staff_id=None, action="broadcast_draft",
                            target=f"broadcast:{broadcast.id}",
                            detail=f"leader {broadcast.leader_id}, own text in {lang}, "
                                   f"{area_code}, {checked.count} recipients"))
    return Preview("ok", checked.count, checked.parts, broadcast)


def _tell_leader(broadcast: Broadcast, key: str) -> None:
    """The leader who wrote a free text hears the decision by SMS, in their language."""
    from hotline.services import outbox

    leader = broadcast.leader
    if leader is None:
        return
    cat = catalog()
    lang = db.session.scalar(select(Contact.language).where(Contact.phone == leader.phone))
    lang = lang if lang in cat.languages else current_app.config["DEFAULT_LANGUAGE"]
    body = cat.render(lang, f"alerts.sms.{key}", {"bref": ref_of(broadcast)})
    outbox.queue_sms(db.session, to=leader.phone, body=body, language=lang, priority="reply",
                     kind="alert_decision", idempotency_key=f"bc{broadcast.id}:{key}")


def ref_of(broadcast: Broadcast) -> str:
    """What a leader reads as the alert's reference."""
    return f"A{broadcast.id}"


def settings() -> Mapping:
    return current_app.config["ALERTS"]


# --- fan-out: a broadcast becomes outbox rows, a chunk at a time ------------------------------

FANOUT_JOB = "hotline.jobs.fan_out_broadcast"
CHUNK = 2000
SUPPRESSED = ("exited", "opted_out", "unreachable", "danger", "daily_cap")
LIVE = ("queued", "sending", "sent", "delivered")  # rows that count towards the daily cap


def clock() -> datetime:
    """The current time in UTC; tests stand it in the quiet hours or past an expiry."""
    return leaders.now_utc()


def quiet_until(now: datetime) -> datetime | None:
    """The end of the quiet hours when ``now`` is inside them, else None."""
    span = str(settings()["quiet_hours"])
    start_text, _, end_text = span.partition("-")
    start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    local = now.astimezone(tz)
    here = local.time()
    inside = (start <= here or here < end) if start > end else (start <= here < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(UTC)


def bodies(broadcast: Broadcast) -> dict[str, str]:
    """The text each language's subscribers get, with the sign-off."""
    cat = catalog()
    if broadcast.template:
        template = templates()[broadcast.template]
        fields = json.loads(broadcast.fields or "{}")
        codes = broadcast.areas.split(",")
        return {lang: alerttexts.render(cat, lang, template, fields,
                                        alerttexts.names(codes, areas.load(), lang))
                for lang in cat.languages}
    return free_bodies(json.loads(broadcast.texts or "{}"))


def free_bodies(texts: Mapping[str, str]) -> dict[str, str]:
    """A free text's SMS per language. A language nobody wrote (a leader writes in one)
    gets the text as it was written, with the sign-off in the language it is written in:
    every subscriber receives it, and the parts are exactly those the author was shown."""
    cat = catalog()
    written = {lang: alerttexts.with_signoff(cat, lang, text) for lang, text in texts.items()
               if text and lang in cat.languages}
    if not written:
        return {}
    as_written = next(iter(written.values()))  # the author's language is stored first
    return {lang: written.get(lang, as_written) for lang in cat.languages}


def _chunk_end(broadcast: Broadcast, codes: list[str], size: int) -> int | None:
    """The last contact id of the next chunk of subscribers, in id order."""
    ids = (select(Subscription.contact_id)
           .where(Subscription.area_code.in_(codes), Subscription.topic == broadcast.topic,
                  Subscription.contact_id > broadcast.fanout_cursor)
           .distinct().order_by(Subscription.contact_id).limit(size).subquery())
    return db.session.scalar(select(func.max(ids.c.contact_id)))


def _insert_chunk(broadcast: Broadcast, codes: list[str], high: int, texts: dict[str, str],
                  now: datetime, not_before: datetime | None) -> list[tuple[int | None, int]]:
    """One set-based INSERT … SELECT of the chunk's outbox rows; for each text, its first
    queued row (the lead a send job starts from, or None) and the rows written.

    A subscriber in several target areas is one row (EXISTS, not a join); whom we
    must not write to gets a ``suppressed`` row naming why, so counts add up and a
    resumed job skips them too (``ON CONFLICT DO NOTHING`` on the idempotency key).
    The new rows are counted in the statement, not returned one by one.
    """
    default = current_app.config["DEFAULT_LANGUAGE"]
    langs = [lg for lg in texts if lg != default] + [default]
    params: dict[str, object] = {
        "bid": broadcast.id, "low": broadcast.fanout_cursor, "high": high,
        "codes": codes, "topic": broadcast.topic, "now": now, "not_before": not_before,
        "expires": broadcast.expires_at, "cap": int(settings()["daily_cap"]),
        "day_start": local_day_start(now), "live": list(LIVE)}
    whens = []
    for i, lang in enumerate(langs):
        cost = measure(texts[lang])
        params.update({f"l{i}": lang, f"b{i}": texts[lang], f"e{i}": cost.encoding,
                       f"p{i}": sms_parts(texts[lang])})
        whens.append(i)

    def pick(prefix: str) -> str:
        cases = " ".join(f"WHEN x.lang = :l{i} THEN :{prefix}{i}" for i in whens[:-1])
        last = f":{prefix}{whens[-1]}"
        return f"CASE {cases} ELSE {last} END" if cases else last

    sql = f"""
        WITH made AS (
        INSERT INTO outbox_messages (idempotency_key, kind, recipient, body, language, encoding,
            parts, priority, status, attempts, provider_status, error, contact_id, created_at,
            updated_at, not_before, expires_at, broadcast_id)
        SELECT 'bc' || :bid || ':' || x.id, 'alert', x.phone, {pick("b")}, {pick("l")},
            {pick("e")}, {pick("p")}, 'bulk',
            CASE WHEN x.reason = '' THEN 'queued' ELSE 'suppressed' END, 0, '', x.reason,
            x.id, :now, :now, :not_before, :expires, :bid
        FROM (
            SELECT c.id, c.phone, c.language AS lang,
                CASE WHEN c.exited_at IS NOT NULL THEN 'exited'
                     WHEN c.opted_out_at IS NOT NULL THEN 'opted_out'
                     WHEN c.unreachable_at IS NOT NULL THEN 'unreachable'
                     WHEN danger.contact_id IS NOT NULL THEN 'danger'
                     WHEN today.n >= :cap THEN 'daily_cap'
                     ELSE '' END AS reason
            FROM contacts c
            LEFT JOIN (SELECT DISTINCT r.contact_id FROM callback_requests r
                       WHERE r.contact_id > :low AND r.contact_id <= :high
                         AND r.status = 'open' AND r.reason = 'danger') danger
                   ON danger.contact_id = c.id
            LEFT JOIN (SELECT o.contact_id, count(*) AS n FROM outbox_messages o
                       WHERE o.contact_id > :low AND o.contact_id <= :high
                         AND o.broadcast_id IS NOT NULL AND o.created_at >= :day_start
                         -- IS TRUE: not a test for the status index, which holds every
                         -- row (and every dead version) of the table: the chunk's rows
                         -- come from the contact index, however many the table has
                         AND (o.status = ANY(:live)) IS TRUE
                       GROUP BY o.contact_id) today ON today.contact_id = c.id
            WHERE c.id > :low AND c.id <= :high
              -- the chunk's range again, so the subscriptions are read through
              -- ix_subscriptions_fanout for these people, not all of them per chunk
              AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.contact_id = c.id
                          AND s.contact_id > :low AND s.contact_id <= :high
                          AND s.area_code = ANY(:codes) AND s.topic = :topic)
            OFFSET 0  -- a fence: each person's reason is worked out once, not per column
        ) x
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, status, body)
        SELECT min(id) FILTER (WHERE status = 'queued'), count(*) FROM made GROUP BY body"""
    # The subqueries make the planner's estimate high enough to compile the statement
    # (JIT), which took longer than running it for a chunk of 2,000.
    db.session.execute(text("SET LOCAL jit = off"))
    return [(None if r[0] is None else int(r[0]), int(r[1]))
            for r in db.session.execute(text(sql), params)]


def _leads(made: list[tuple[int, str, str]]) -> list[int]:
    """The rows to hand to rq: the first queued row of each text, not one per batch.

    A send job claims batch after batch of its row's text until none is left
    (services.outbox), so one job per text and chunk sends the chunk, and a second
    worker's job for the next chunk claims alongside it. A job per batch cost an rq
    round of its own and mostly found its row already taken. A row no job took
    stays queued and the top-up or the sweep hands it over.
    """
    first: dict[str, int] = {}
    for message_id, status, body in made:
        if status == "queued":
            first[body] = min(message_id, first.get(body, message_id))
    return sorted(first.values())


def _locked(broadcast_id: int) -> Broadcast | None:
    return db.session.scalars(select(Broadcast).where(Broadcast.id == broadcast_id)
                              .with_for_update()).one_or_none()


def fan_out(broadcast_id: int, chunk: int | None = None) -> str:
    """The rq job: write a broadcast's outbox rows chunk by chunk, then hand them to rq.

    Each chunk and the cursor after it commit together, so a job killed mid-way
    resumes after the last committed chunk and adds nobody twice; the broadcast
    row is locked per chunk, so a pause or cancel takes effect between chunks.
    Memory is one chunk's ids, whatever the number of subscribers.
    """
    from hotline.services import outbox

    chunk = chunk or int(settings()["fanout_chunk"])
    written = 0
    while True:
        now = clock()
        broadcast = _locked(broadcast_id)
        if broadcast is None or broadcast.status not in ("queued", "sending") \
                or broadcast.fanned_out_at is not None:
            status = broadcast.status if broadcast else "gone"
            db.session.commit()
            return f"broadcast {broadcast_id}: {status}, {written} rows written"
        expires = _aware(broadcast.expires_at)
        if expires is not None and expires <= now:
            broadcast.status, broadcast.finished_at = "expired", now
            _expire_rows(broadcast.id, now)
            db.session.commit()
            return f"broadcast {broadcast_id}: expired, {written} rows written"
        broadcast.status = "sending"
        codes = sorted(areas.load().reach(broadcast.areas.split(",")))
        high = _chunk_end(broadcast, codes, chunk)
        if high is None:
            broadcast.fanned_out_at = now
            db.session.commit()
            _enqueue_top_up(broadcast_id)  # behind the batches on the bulk queue
            return f"broadcast {broadcast_id}: fanned out, {written} rows written"
        held = None if broadcast.urgent else quiet_until(now)
        made = _insert_chunk(broadcast, codes, high, bodies(broadcast), now, held)
        broadcast.fanout_cursor = high
        db.session.commit()
        written += sum(n for _, n in made)
        outbox.enqueue([(lead, "bulk") for lead, _ in made if lead is not None],
                       delay=held - now if held else None)


TOP_UP_JOB = "hotline.jobs.top_up_broadcast"


TOP_UP_ROUNDS = 20  # then the minute sweep takes over: never a loop that spins


def _enqueue_top_up(broadcast_id: int, round_: int = 0) -> None:
    from hotline.jobqueue import jobs

    try:
        jobs().enqueue(TOP_UP_JOB, broadcast_id, round_, queue="bulk")
    except Exception:  # noqa: BLE001 (Redis down: the sweep finishes the broadcast)
        log.warning("top-up of broadcast %s not enqueued; the sweep will", broadcast_id)


def top_up(broadcast_id: int, round_: int = 0) -> str:
    """The rq job queued behind a broadcast's batches: hand over what no batch took.

    With several workers claiming at once a batch may take rows meant for the next
    one, whose job then finds its first row taken and sends nothing; those rows are
    still ``queued``. This job hands them over as new batches and queues itself
    again behind them, until nothing due is left; then the broadcast is finished.
    """
    from hotline.services import outbox

    now = clock()
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.body)
        .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == "queued",
               (OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= now),
               # a retry waits for its own delayed job
               (OutboxMessage.next_attempt_at.is_(None)) | (OutboxMessage.next_attempt_at <= now))
        .order_by(OutboxMessage.id).with_for_update(skip_locked=True)).all()
    status = db.session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
    db.session.commit()
    if status != "sending":
        return f"broadcast {broadcast_id}: {status}"
    if not rows:
        finish(broadcast_id)
        return f"broadcast {broadcast_id}: nothing left to hand over"
    handed = outbox.enqueue([(i, "bulk") for i in _leads([tuple(r) for r in rows])])
    if round_ + 1 < TOP_UP_ROUNDS:
        _enqueue_top_up(broadcast_id, round_ + 1)
    return f"broadcast {broadcast_id}: {len(rows)} rows handed over again in {handed} batches"


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _expire_rows(broadcast_id: int, now: datetime) -> None:
    db.session.execute(update(OutboxMessage).where(
        OutboxMessage.broadcast_id == broadcast_id,
        OutboxMessage.status.in_(("queued", "paused"))).values(
        status="expired", error="alert expired", updated_at=now))


def counts(broadcast_id: int) -> dict[str, int]:
    """Rows by status, and suppressed rows by reason (``suppressed:<reason>``)."""
    found: dict[str, int] = {}
    rows = db.session.execute(select(OutboxMessage.status, OutboxMessage.error, func.count())
                              .where(OutboxMessage.broadcast_id == broadcast_id)
                              .group_by(OutboxMessage.status, OutboxMessage.error))
    for status, error, n in rows:
        found[status] = found.get(status, 0) + int(n)
        if status == "suppressed":
            reason = error if error in SUPPRESSED else "other"
            found[f"suppressed:{reason}"] = found.get(f"suppressed:{reason}", 0) + int(n)
    return found


def finish(broadcast_id: int) -> bool:
    """Close a fanned-out broadcast once nothing of it is waiting; tell its leader."""
    broadcast = _locked(broadcast_id)
    if broadcast is None or broadcast.status != "sending" or broadcast.fanned_out_at is None:
        db.session.commit()
        return False
    found = counts(broadcast_id)
    if any(found.get(s, 0) for s in ("queued", "sending", "paused")):
        db.session.commit()
        return False
    broadcast.status, broadcast.finished_at = "done", clock()
    _summary(broadcast, found)
    db.session.add(AuditLog(staff_id=None, action="broadcast_done",
                            target=f"broadcast:{broadcast.id}",
                            detail=", ".join(f"{k} {v}" for k, v in sorted(found.items()))))
    db.session.commit()
    return True


def _summary(broadcast: Broadcast, found: Mapping[str, int]) -> None:
    """The leader's SMS when sending is over: sent, delivered, failed."""
    from hotline.services import outbox

    leader = broadcast.leader
    if leader is None:
        return
    cat = catalog()
    lang = db.session.scalar(select(Contact.language).where(Contact.phone == leader.phone))
    lang = lang if lang in cat.languages else current_app.config["DEFAULT_LANGUAGE"]
    sent = found.get("sent", 0) + found.get("delivered", 0) + found.get("undelivered", 0)
    body = cat.render(lang, "alerts.sms.summary", {
        "bref": ref_of(broadcast), "sent": str(sent), "delivered": str(found.get("delivered", 0)),
        "failed": str(found.get("failed", 0) + found.get("undelivered", 0))})
    outbox.queue_sms(db.session, to=leader.phone, body=body, language=lang, priority="reply",
                     kind="alert_summary", idempotency_key=f"bc{broadcast.id}:summary")


def finish_sweep() -> str:
    """``hotline sweep``: close every broadcast whose last message has gone."""
    ids = list(db.session.scalars(select(Broadcast.id).where(
        Broadcast.status == "sending", Broadcast.fanned_out_at.is_not(None))))
    db.session.commit()
    done = sum(finish(i) for i in ids)
    return f"broadcasts: {done} finished of {len(ids)} sending"


def start(broadcast: Broadcast) -> None:
    """Hand a confirmed broadcast to the fan-out job once the caller's commit lands."""
    from hotline.jobqueue import jobs

    @event.listens_for(db.session(), "after_commit", once=True)
    def _go(session) -> None:  # noqa: ANN001 (SQLAlchemy's signature)
        try:
            jobs().enqueue(FANOUT_JOB, broadcast.id, queue="default")
        except Exception:  # noqa: BLE001 (Redis down: the sweeper starts it)
            log.warning("fan-out of broadcast %s not enqueued; the sweeper will", broadcast.id)


def restart_sweep() -> str:
    """``hotline sweep``: start again what a killed worker or a lost enqueue left behind.

    A fan-out job run twice is harmless (each chunk locks the broadcast and starts
    after the committed cursor), and so is a send job for a row already taken, so
    the sweep hands over every unfinished fan-out and every due row still queued.
    """
    from hotline.jobqueue import jobs
    from hotline.services import outbox

    now = clock()
    open_ids = list(db.session.scalars(select(Broadcast.id).where(
        Broadcast.status.in_(("queued", "sending")), Broadcast.fanned_out_at.is_(None))))
    for broadcast_id in open_ids:
        jobs().enqueue(FANOUT_JOB, broadcast_id, queue="default")
    waiting = db.session.scalars(
        select(OutboxMessage.id).join(Broadcast, Broadcast.id == OutboxMessage.broadcast_id)
        .where(Broadcast.status == "sending", OutboxMessage.status == "queued",
               (OutboxMessage.not_before.is_(None)) | (OutboxMessage.not_before <= now))
        .order_by(OutboxMessage.id).execution_options(yield_per=CHUNK))
    handed = 0
    batch: list[tuple[int, str]] = []
    for message_id in waiting:
        batch.append((message_id, "bulk"))
        if len(batch) >= CHUNK:
            handed += outbox.enqueue(batch)
            batch = []
    handed += outbox.enqueue(batch)
    db.session.commit()
    return f"broadcasts: {len(open_ids)} fan-outs restarted, {handed} messages handed over"


# --- supervisors: pause, resume, cancel -------------------------------------------------------

class BroadcastError(CodedError):
    """A supervisor action that does not apply to this broadcast now; the message says why."""


def _audit(staff_id: int, action: str, broadcast: Broadcast, detail: str = "") -> None:
    db.session.add(AuditLog(staff_id=staff_id, action=action, target=f"broadcast:{broadcast.id}",
                            detail=detail[:300]))


def _set_rows(broadcast_id: int, from_status: tuple[str, ...], to_status: str, now: datetime
              ) -> list[int]:
    return list(db.session.scalars(
        update(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id,
                                    OutboxMessage.status.in_(from_status))
        .values(status=to_status, updated_at=now).returning(OutboxMessage.id)))


def pause(broadcast_id: int, staff_id: int) -> int:
    """Stop a broadcast between chunks and hold its unsent rows; how many were held.

    Rows already handed to the gateway (``sending``) finish; nothing else goes.
    """
    broadcast = _locked(broadcast_id)
    if broadcast is None or broadcast.status not in ("queued", "sending"):
        db.session.rollback()
        raise BroadcastError("Only a broadcast that is going out can be paused.",
                             "not_going_out")
    now = clock()
    broadcast.status = "paused"
    held = _set_rows(broadcast_id, ("queued",), "paused", now)
    _audit(staff_id, "broadcast_pause", broadcast, f"{len(held)} messages held")
    db.session.commit()
    return len(held)


def resume(broadcast_id: int, staff_id: int) -> int:
    """Go on from where it stopped: the held rows, then the rest of the fan-out."""
    from hotline.jobqueue import jobs
    from hotline.services import outbox

    broadcast = _locked(broadcast_id)
    if broadcast is None or broadcast.status != "paused":
        db.session.rollback()
        raise BroadcastError("Only a paused broadcast can be resumed.", "not_paused")
    now = clock()
    broadcast.status = "sending"
    again = _set_rows(broadcast_id, ("paused",), "queued", now)
    _audit(staff_id, "broadcast_resume", broadcast, f"{len(again)} messages released")
    fanned = broadcast.fanned_out_at is not None
    db.session.commit()
    outbox.enqueue([(i, "bulk") for i in again])
    if not fanned:
        jobs().enqueue(FANOUT_JOB, broadcast_id, queue="default")
    else:
        finish(broadcast_id)
    return len(again)


def cancel(broadcast_id: int, staff_id: int) -> int:
    """Stop for good: nothing not yet handed to the gateway goes; how many were stopped."""
    broadcast = _locked(broadcast_id)
    if broadcast is None or broadcast.status not in ("pending", "queued", "sending", "paused"):
        db.session.rollback()
        raise BroadcastError("This broadcast is over; there is nothing to cancel.", "over")
    now = clock()
    broadcast.status, broadcast.finished_at = "cancelled", now
    stopped = _set_rows(broadcast_id, ("queued", "paused"), "cancelled", now)
    _audit(staff_id, "broadcast_cancel", broadcast, f"{len(stopped)} messages stopped")
    db.session.commit()
    return len(stopped)


# --- free text from the dashboard: two people, the author never approves -----------------------

FREE_TEXT_MAX = 400  # characters a language's text may have before the sign-off


@dataclass(frozen=True)
class Draft:
    """A free-text alert as the approval page shows it."""

    texts: Mapping[str, str]  # language -> the SMS with its sign-off
    parts: Mapping[str, int]
    recipients: int
    cost: float
    as_written: tuple[str, ...] = ()  # languages whose readers get the text as written
    text_lang: Mapping[str, str] | None = None  # reader's language -> the text's language


def _check_text(lang: str, typed: str) -> str:
    """One language's free text as stored; BroadcastError says what is wrong."""
    body = " ".join((typed or "").split())
    if not body:
        raise BroadcastError(f"Write the text in every language ({lang} is empty).",
                             "text_empty", lang=lang)
    if len(body) > FREE_TEXT_MAX or not body.isprintable() or any(c in body for c in "<>{}"):
        raise BroadcastError(f"The {lang} text must be 1 to {FREE_TEXT_MAX} printable "
                             "characters, without < > { }.", "text_bad", lang=lang,
                             most=FREE_TEXT_MAX)
    parts = sms_parts(alerttexts.with_signoff(catalog(), lang, body))
    if parts > int(settings()["max_parts"]):
        raise BroadcastError(f"The {lang} text takes {parts} SMS with the sign-off; at most "
                             f"{settings()['max_parts']}. Shorten it.", "text_long", lang=lang,
                             parts=parts, most=int(settings()["max_parts"]))
    return body


def _check_texts(texts: Mapping[str, str]) -> dict[str, str]:
    return {lang: _check_text(lang, texts.get(lang) or "") for lang in catalog().languages}


def create_free_text(author_id: int, texts: Mapping[str, str], area_codes: list[str],
                     topic: str, urgent: bool, key: str) -> Broadcast:
    """A staff member's alert, waiting for a second person's approval."""
    known = areas.load()
    codes = list(dict.fromkeys(c for c in area_codes if c))
    if not codes or any(known.get(c) is None for c in codes):
        raise BroadcastError("Choose at least one of the listed areas.", "areas")
    if topic not in alerttexts.TOPICS:
        raise BroadcastError("Choose what kind of alert this is.", "topic")
    clean = _check_texts(texts)
    existing = db.session.scalars(select(Broadcast).where(Broadcast.key == key[:140])).first()
    if existing is not None:  # the same form sent twice
        return existing
    now = clock()
    broadcast = Broadcast(key=key[:140], author_id=author_id, template="",
                          texts=json.dumps(clean, ensure_ascii=False), areas=",".join(codes),
                          topic=topic, urgent=bool(urgent), status="pending", created_at=now,
                          expires_at=now + timedelta(hours=int(settings()["expiry_hours"])))
    db.session.add(broadcast)
    db.session.flush()
    broadcast.recipients = subscriptions.count_reachable(codes, topic)
    broadcast.parts = max(sms_parts(t) for t in bodies(broadcast).values())
    db.session.add(AuditLog(staff_id=author_id, action="broadcast_draft",
                            target=f"broadcast:{broadcast.id}",
                            detail=f"{','.join(codes)}, {topic}, {broadcast.recipients} "
                                   "recipients"))
    db.session.commit()
    return broadcast


def draft(broadcast: Broadcast) -> Draft:
    texts = bodies(broadcast)
    parts = {lang: sms_parts(t) for lang, t in texts.items()}
    count = subscriptions.count_reachable(broadcast.areas.split(","), broadcast.topic)
    cost = count * max(parts.values(), default=1) * float(settings()["cost_per_part"])
    written = json.loads(broadcast.texts or "{}") if not broadcast.template else {}
    missing = tuple(lang for lang in texts if written and not written.get(lang))
    source = next((lang for lang, text in written.items() if text), "")
    text_lang = {lang: source if lang in missing else lang for lang in texts}
    return Draft(texts, parts, count, round(cost, 2), missing, text_lang)


def approve(broadcast_id: int, staff_id: int,
            translations: Mapping[str, str] | None = None) -> Broadcast:
    """The second person: never the author. The alert then goes out as a leader's would.

    A text written in one language only (a leader's, typed in USSD) goes out as written
    to readers of the others, unless the approver adds their language here: the
    approver reads the original and vouches for the version they add (audited).
    """
    broadcast = _locked(broadcast_id)
    if broadcast is None or broadcast.status != "pending":
        db.session.rollback()
        raise BroadcastError("Only an alert waiting for approval can be approved.",
                             "not_pending")
    if broadcast.author_id == staff_id:
        db.session.rollback()
        raise BroadcastError("Someone other than the author must approve this alert.",
                             "author")
    now = clock()
    if broadcast.expires_at is not None and _aware(broadcast.expires_at) <= now:
        db.session.rollback()
        raise BroadcastError("This alert expired before it was approved; write it again.",
                             "expired")
    texts = json.loads(broadcast.texts or "{}")
    added = {lang: " ".join(text.split()) for lang, text in (translations or {}).items()
             if lang in catalog().languages and not texts.get(lang) and (text or "").strip()}
    if added and not broadcast.template:
        try:
            texts.update({lang: _check_text(lang, text) for lang, text in added.items()})
        except BroadcastError:
            db.session.rollback()
            raise
        broadcast.texts = json.dumps(texts, ensure_ascii=False)
        broadcast.parts = max(sms_parts(t) for t in bodies(broadcast).values())
        _audit(staff_id, "broadcast_translate", broadcast,
               "added " + ", ".join(f"{lang}: {text}" for lang, text in added.items()))
    broadcast.status, broadcast.approved_by_id, broadcast.approved_at = "queued", staff_id, now
    broadcast.recipients = subscriptions.count_reachable(broadcast.areas.split(","),
                                                         broadcast.topic)
    _audit(staff_id, "broadcast_approve", broadcast)
    _tell_leader(broadcast, "approved")
    start(broadcast)
    db.session.commit()
    return broadcast


def reject(broadcast_id: int, staff_id: int) -> Broadcast:
    broadcast = _locked(broadcast_id)
    if broadcast is None or broadcast.status != "pending":
        db.session.rollback()
        raise BroadcastError("Only an alert waiting for approval can be rejected.",
                             "not_pending")
    broadcast.status, broadcast.finished_at = "rejected", clock()
    _audit(staff_id, "broadcast_reject", broadcast)
    _tell_leader(broadcast, "rejected")
    db.session.commit()
    return broadcast


# --- what the dashboard lists ----------------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    broadcast: Broadcast
    counts: Mapping[str, int]
    total: int  # rows written so far (one per person reached or suppressed)
    gone: int  # handed to the gateway (sent, delivered, undelivered, failed)
    held_until: datetime | None

    def reasons(self) -> list[tuple[str, int]]:
        """Suppressed rows by reason, in a fixed order, only the reasons that occurred."""
        return [(r, self.counts[f"suppressed:{r}"]) for r in (*SUPPRESSED, "other")
                if self.counts.get(f"suppressed:{r}")]

    @property
    def percent(self) -> int:
        expected = max(self.broadcast.recipients, self.total, 1)
        waiting = self.counts.get("queued", 0) + self.counts.get("sending", 0) + \
            self.counts.get("paused", 0)
        done = self.total - waiting
        if self.broadcast.fanned_out_at is not None:
            expected = max(self.total, 1)
        return min(100, int(100 * done / expected))


def listing(limit: int = 50) -> list[Progress]:
    """The newest broadcasts with their counts, in two queries whatever their size."""
    rows = list(db.session.scalars(select(Broadcast).order_by(Broadcast.id.desc())
                                   .limit(limit)))
    ids = [b.id for b in rows]
    found: dict[int, dict[str, int]] = {i: {} for i in ids}
    held: dict[int, datetime | None] = {}
    if ids:
        for bid, status, error, n, later in db.session.execute(
                select(OutboxMessage.broadcast_id, OutboxMessage.status, OutboxMessage.error,
                       func.count(), func.max(OutboxMessage.not_before))
                .where(OutboxMessage.broadcast_id.in_(ids))
                .group_by(OutboxMessage.broadcast_id, OutboxMessage.status,
                          OutboxMessage.error)):
            mine = found[bid]
            mine[status] = mine.get(status, 0) + int(n)
            if status == "suppressed":
                key = f"suppressed:{error if error in SUPPRESSED else 'other'}"
                mine[key] = mine.get(key, 0) + int(n)
            if status == "queued" and later is not None:
                held[bid] = max(filter(None, (held.get(bid), _aware(later))))
    now = clock()
    out = []
    for b in rows:
        mine = found[b.id]
        total = sum(v for k, v in mine.items() if ":" not in k)
        gone = sum(mine.get(s, 0) for s in ("sent", "delivered", "undelivered", "failed"))
        until = held.get(b.id)
        out.append(Progress(b, mine, total, gone, until if until and until > now else None))
    return out


def subscribers_over_time(weeks: int = 12) -> tuple[list[datetime], dict[str, list[int]]]:
    """Subscribers per area at the end of each of the last ``weeks`` weeks.

    Counted from the consent ledger (subscribe minus later withdrawals is not
    kept per area, so a withdrawal removes the person from every area, as STOP does).
    """
    now = clock()
    ends = [now - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    series: dict[str, list[int]] = {}
    for i, end in enumerate(ends):
        rows = db.session.execute(text("""
            SELECT e.area_code, count(DISTINCT e.contact_id) FROM consent_events e
            WHERE e.action = 'subscribe' AND e.at <= :end
              AND NOT EXISTS (SELECT 1 FROM consent_events w WHERE w.contact_id = e.contact_id
                              AND w.action = 'unsubscribe' AND w.at > e.at AND w.at <= :end)
            GROUP BY e.area_code"""), {"end": end})
        for code, n in rows:
            series.setdefault(code, [0] * weeks)[i] = int(n)
    return ends, series
