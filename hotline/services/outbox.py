"""The outbox: every outbound SMS is a row first, and is sent later by an rq job.

``queue_sms`` adds the row to the caller's session, so it commits (or rolls back)
with whatever caused it; only after that commit is the row's id handed to rq.
If the enqueue is lost (Redis down or flushed, worker killed), the row is still
``queued`` and ``hotline sweep`` hands it over again: the database, not Redis,
is the record of what must still go out. A job that finds its row already taken
by another does nothing, so an id enqueued twice is sent once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import and_, bindparam, case, event, func, literal, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from hotline.gateways import Gateway, GatewayError, Outcome, build_gateway
from hotline.models import Contact, OutboxMessage, utcnow
from hotline.services import ratelimit
from hotline.textcodec import measure, sms_parts

log = logging.getLogger(__name__)

Priority = Literal["reply", "bulk"]
PRIORITIES = ("reply", "bulk")
QUEUE_OF = {"reply": "replies", "bulk": "bulk"}
SEND_JOB = "hotline.jobs.send_outbox"
JOB_IDS = 500  # message ids per job: a broadcast's thousands of rows are a few jobs
JOB_SECONDS = 10.0  # then a job hands its remaining ids on (replies first between jobs)
WAITING_SECONDS = 300  # a "job waiting for this text" mark older than this is ignored
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600  # ten GSM-7 parts; templates stay within three, staff replies are capped
_PENDING = "hotline.outbox.pending"
_HOOKED = "hotline.outbox.hooked"


class OutboxError(ValueError):
    """A message that cannot be queued as asked (bad number, empty body, …)."""


def queue_sms(session: Session | scoped_session, *, to: str, body: str, language: str,
              priority: Priority, kind: str, idempotency_key: str,
              contact_id: int | None = None, callback_request_id: int | None = None,
              expires_at: datetime | None = None,
              not_before: datetime | None = None) -> OutboxMessage:
    """Add one outbound SMS to the caller's transaction; a repeated key returns the first row.

    The caller commits. Nothing reaches Redis before that commit, so a rolled-back
    cause never sends, and a committed one always does (through the sweeper if the
    enqueue after the commit is lost).
    """
    if not E164.match(to or ""):
        raise OutboxError("recipient must be an E.164 number such as +249912345678")
    if priority not in PRIORITIES:
        raise OutboxError(f"priority must be one of {', '.join(PRIORITIES)}")
    if not body or not body.strip() or len(body) > MAX_BODY:
        raise OutboxError(f"body must be 1 to {MAX_BODY} characters")
    if not idempotency_key or len(idempotency_key) > 120:
        raise OutboxError("idempotency_key must be 1 to 120 characters")
    if not kind or len(kind) > 30:
        raise OutboxError("kind must be 1 to 30 characters")
    found = session.scalars(select(OutboxMessage)
                            .where(OutboxMessage.idempotency_key == idempotency_key)).first()
    if found is not None:
        return found
    now = utcnow()
    row = OutboxMessage(
        idempotency_key=idempotency_key, kind=kind, recipient=to, body=body,
        language=(language or "")[:8], encoding=measure(body).encoding, parts=sms_parts(body),
        priority=priority, status="queued", attempts=0, provider_status="", error="",
        contact_id=contact_id, callback_request_id=callback_request_id, created_at=now,
        updated_at=now, expires_at=_utc(expires_at), not_before=_utc(not_before))
    real = session() if isinstance(session, scoped_session) else session
    if real.bind is not None and real.get_bind().dialect.name == "postgresql":
        # A savepoint, so a second request racing on the same key costs this insert only,
        # not the caller's whole transaction.
        try:
            with real.begin_nested():
                real.add(row)
        except IntegrityError:
            return real.scalars(select(OutboxMessage)
                                .where(OutboxMessage.idempotency_key == idempotency_key)).one()
    else:
        real.add(row)
        real.flush()
    _after_commit_enqueue(real, row.id, priority, body)
    return row


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# --- handing ids to rq once the rows are committed --------------------------------------------

def _after_commit_enqueue(session: Session, message_id: int, priority: str, body: str) -> None:
    session.info.setdefault(_PENDING, []).append((message_id, priority, body))
    if session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True
    event.listen(session, "after_commit", _on_commit)
    event.listen(session, "after_rollback", _on_rollback)


def _on_commit(session: Session) -> None:
    """One job per text not already waiting for a job (see ``_mark_waiting``)."""
    texts: dict[tuple[str, str], list[int]] = {}
    for message_id, priority, body in session.info.pop(_PENDING, []):
        texts.setdefault((priority, body), []).append(message_id)
    now = [(i, p) for (p, body), ids in texts.items() if _mark_waiting(p, body) for i in ids]
    if now:
        enqueue(now)


def _waiting_key(priority: str, body: str) -> str:
    return f"hotline:outbox:waiting:{priority}:{hashlib.sha1(body.encode()).hexdigest()[:24]}"


def _mark_waiting(priority: str, body: str) -> bool:
    """True when no job is waiting for this text yet, so one must be enqueued.

    A waiting job claims every queued row of its text when it starts (after
    clearing the mark), so rows committed while it waits need no job of their own:
    a broadcast's thousands of commits, or a burst of the same reply, make one job
    instead of thousands that would find their rows already sent. Without Redis, or
    when Redis fails, the answer is True (enqueue as usual; the sweeper is the net).
    """
    client = current_app.extensions.get("hotline.redis")
    if client is None:
        return True
    try:
        return bool(client.set(_waiting_key(priority, body), b"1", nx=True,
                               ex=WAITING_SECONDS))
    except RedisError:
        return True


def _clear_waiting(priority: str, body: str) -> None:
    client = current_app.extensions.get("hotline.redis")
    if client is not None:
        try:
            client.delete(_waiting_key(priority, body))
        except RedisError:
            log.warning("outbox: could not clear a waiting mark; later rows wait for the sweeper")


def _on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def enqueue(items: Iterable[tuple[int, str]], *, delay: timedelta | None = None) -> int:
    """Hand ``(message id, priority)`` pairs to rq, one job per priority (and per
    ``JOB_IDS`` ids); a failure is logged, never raised.

    A lost enqueue costs only time: the row stays ``queued`` and the sweeper hands
    it over again.
    """
    from hotline.jobqueue import jobs

    queue = jobs()
    by_priority: dict[str, list[int]] = {}
    for message_id, priority in items:
        by_priority.setdefault(priority, []).append(message_id)
    handed = 0
    for priority, ids in by_priority.items():
        for start in range(0, len(ids), JOB_IDS):
            chunk = ids[start:start + JOB_IDS]
            try:
                queue.enqueue(SEND_JOB, chunk, queue=QUEUE_OF[priority], delay=delay)
                handed += len(chunk)
            except Exception:  # noqa: BLE001 (Redis down: the rows wait for the sweeper)
                log.warning("outbox messages %s… not enqueued; the sweeper will retry",
                            chunk[0], exc_info=True)
    return handed


def settings() -> dict:
    return current_app.config["OUTBOX"]


# --- sending ---------------------------------------------------------------------------------

def gateway() -> Gateway:
    """The app's gateway, built once from settings (tests may put their own in place)."""
    found = current_app.extensions.get("hotline.gateway")
    if found is None:
        found = current_app.extensions["hotline.gateway"] = build_gateway(current_app.config)
    return found


def _due(row: Any, now: datetime) -> datetime | None:
    """When a row may go, if that is later than now."""
    later = max((at for at in (_utc(row.not_before), _utc(row.next_attempt_at)) if at),
                default=None)
    return later if later is not None and later > now else None


def _batch_size(priority: str, parts: int) -> int:
    """Bulk batches stay within about a second of the rate limit, so a reply queued
    behind one waits a second, not a minute."""
    size = max(1, int(settings()["batch_size"]))
    rate = int(settings()["rate_parts_per_second"])
    if priority == "bulk" and rate > 0:
        size = min(size, max(1, rate // max(1, parts)))
    return size


def _claim_statement(indexed: bool) -> Any:
    """One statement that takes a batch: rows of one text and priority, due, not locked
    by another worker (``SKIP LOCKED``), each moved to ``sending``, or straight to
    ``expired`` or ``suppressed`` (silent exit: everything; opt-out or unreachable: bulk)
    when it must not go. One round trip, because a batch's cost is its round trips.

    ``indexed`` (PostgreSQL) also matches the body's md5, which is how
    ``ix_outbox_messages_queued_text`` finds the rows of one text in id order; without
    it each claim walked past every row already sent (migration 0012_send)."""
    om, contact = OutboxMessage.__table__.c, Contact.__table__.c
    now = bindparam("p_now")
    why = case((and_(om.expires_at.is_not(None), om.expires_at <= now),
                literal("expired before sending")),
               (contact.exited_at.is_not(None), literal("silent exit")),
               (and_(om.priority == "bulk", contact.opted_out_at.is_not(None)),
                literal("opted out of bulk")),
               (and_(om.priority == "bulk", contact.unreachable_at.is_not(None)),
                literal("unreachable")),
               else_=literal(""))
    same_text = [om.body == bindparam("p_body")]
    if indexed:
        same_text.append(func.md5(om.body) == func.md5(bindparam("p_body")))
    picked = (select(om.id.label("pick_id"), why.label("why"))
              .select_from(OutboxMessage.__table__.outerjoin(
                  Contact.__table__, contact.phone == om.recipient))
              .where(om.status == "queued", *same_text, om.priority == bindparam("p_priority"),
                     or_(om.not_before.is_(None), om.not_before <= now),
                     or_(om.next_attempt_at.is_(None), om.next_attempt_at <= now))
              .order_by(om.id).limit(bindparam("p_size"))
              .with_for_update(skip_locked=True, of=OutboxMessage.__table__)).cte("picked")
    going = picked.c.why == ""
    return (update(OutboxMessage.__table__).where(om.id == picked.c.pick_id)
            .values(status=case((going, literal("sending")),
                                (picked.c.why == "expired before sending", literal("expired")),
                                else_=literal("suppressed")),
                    attempts=case((going, om.attempts + 1), else_=om.attempts),
                    error=picked.c.why, updated_at=now)
            .returning(om.id, om.recipient, om.priority, om.attempts, om.status, om.error))


CLAIM = {True: _claim_statement(indexed=True), False: _claim_statement(indexed=False)}


def _postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def send(message_ids: int | list[int]) -> str:
    """The rq job's body: for the text of each id still queued, claim batches of the
    rows with that text until none is left, one gateway request per batch, and record
    every recipient's outcome.

    A job is enqueued per commit, or not at all when a job for the same text is
    already waiting (``_mark_waiting``): that one takes the rows. The job holds one
    database connection throughout and hands on what is left after ``JOB_SECONDS``.
    It works in SQLAlchemy Core on that connection: a batch is a few statements whose
    rows are never needed as objects.
    """
    from hotline.extensions import db

    ids = [message_ids] if isinstance(message_ids, int) else list(message_ids)
    said: dict[str, int] = {}
    now = utcnow()
    om = OutboxMessage.__table__.c
    with db.engine.connect() as conn:
        waiting = conn.execute(
            select(om.id, om.body, om.priority, om.parts, om.not_before, om.next_attempt_at)
            .where(om.id.in_(ids), om.status == "queued").order_by(om.id)).all()
        conn.rollback()
        said["taken"] = len(ids) - len(waiting)
        texts: dict[tuple[str, str], Any] = {}
        for lead in waiting:
            later = _due(lead, now)
            if later is not None:
                enqueue([(lead.id, lead.priority)], delay=later - now)
                said["not due"] = said.get("not due", 0) + 1
            else:
                texts.setdefault((lead.priority, lead.body), lead)
        began, items = time.monotonic(), list(texts.items())
        for index, ((priority, body), lead) in enumerate(items):
            _clear_waiting(priority, body)  # before claiming: later commits enqueue anew
            while time.monotonic() - began <= JOB_SECONDS:
                counts = _send_batch(conn, lead)
                if not counts:  # nothing of this text left (or another worker has it)
                    break
                for word, n in counts.items():
                    said[word] = said.get(word, 0) + n
            else:  # out of time: a fresh job carries on, so the worker can take replies
                said["handed on"] = enqueue(_still_queued(conn, [k for k, _ in items[index:]]))
                break
    return ", ".join(f"{n} {word}" for word, n in sorted(said.items()) if n) or "nothing"


def _still_queued(conn: Connection, texts: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """One queued row of each text, to lead a fresh job to all of them."""
    om = OutboxMessage.__table__.c
    found = []
    for priority, body in texts:
        first = conn.scalar(select(func.min(om.id)).where(
            om.status == "queued", om.body == body, om.priority == priority))
        if first is not None:
            found.append((first, priority))
    conn.rollback()
    return found


def _send_batch(conn: Connection, lead: Any) -> dict[str, int]:
    """One batch of ``lead``'s text: claim, one gateway request, every outcome; {} when
    nothing of the text was left to claim.

    Two transactions. The claim's commit is durable before the request goes out: were
    it lost, the rows would be ``queued`` again and sent a second time, silently. The
    outcomes' commit is not (see ``_record``).
    """
    now = utcnow()
    claimed = conn.execute(CLAIM[_postgresql(conn)], {
        "p_now": now, "p_body": lead.body, "p_priority": lead.priority,
        "p_size": _batch_size(lead.priority, lead.parts)}).all()
    going, twice = [], []
    seen: set[str] = set()
    for row in claimed:
        if row.status != "sending":
            log.info("outbox message %s %s (%s)", row.id, row.status, row.error)
        elif row.recipient in seen:  # the same text twice to one number: the job's next batch
            twice.append(row.id)
        else:
            seen.add(row.recipient)
            going.append(row)
    if twice:
        om = OutboxMessage.__table__.c
        conn.execute(update(OutboxMessage.__table__).where(om.id.in_(twice))
                     .values(status="queued", attempts=om.attempts - 1))
    conn.commit()
    counts = {"expired or suppressed": len(claimed) - len(going) - len(twice)}
    if not going:
        return counts if claimed else {}
    ratelimit.wait(lead.parts * len(going))
    try:
        outcomes = {o.number: o for o in gateway().send([r.recipient for r in going],
                                                        lead.body)}
    except GatewayError as exc:
        outcomes = {r.recipient: Outcome(r.recipient, exc.verdict, exc.code) for r in going}
        log.warning("gateway refused a batch of %s: %s", len(going), exc)
    recorded, retries = _record(conn, going, outcomes)
    conn.commit()
    for delay, ids in retries.items():
        enqueue([(i, lead.priority) for i in ids], delay=delay)
    for word, n in recorded.items():
        counts[word] = counts.get(word, 0) + n
    return counts


# Every recipient's outcome in one statement: one row of arrays, whatever the batch size.
RECORD_SET = text("""
    UPDATE outbox_messages AS o
    SET status = v.status, error = v.error, provider_status = v.code,
        provider_message_id = v.message_id, next_attempt_at = v.next_at,
        sent_at = CASE WHEN v.status = 'sent' THEN :now END, updated_at = :now
    FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS text[]), CAST(:errors AS text[]),
                CAST(:codes AS text[]), CAST(:message_ids AS text[]),
                CAST(:next_ats AS timestamptz[]))
         AS v (id, status, error, code, message_id, next_at)
    WHERE o.id = v.id AND o.status = 'sending'""")
# The same row by row, where there are no arrays (SQLite, the development default).
RECORD_ROW = (update(OutboxMessage.__table__)
              .where(OutboxMessage.id == bindparam("b_id"), OutboxMessage.status == "sending")
              .values(status=bindparam("b_status"), error=bindparam("b_error"),
                      provider_status=bindparam("b_code"),
                      provider_message_id=bindparam("b_message_id"),
                      sent_at=bindparam("b_sent_at"), next_attempt_at=bindparam("b_next"),
                      updated_at=bindparam("b_now")))


def _record(conn: Connection, rows: list[Any], outcomes: dict[str, Outcome]
            ) -> tuple[dict[str, int], dict[timedelta, list[int]]]:
    """Write each recipient's outcome; retries go back to ``queued`` with a backoff.
    Returns the count of each new status, and the ids to enqueue again by delay once
    the caller has committed.

    Only rows still ``sending`` change (the sweeper may have given up on a send that
    took too long). The commit that follows is asynchronous on PostgreSQL (no wait for
    the disk): if the database itself crashes in the next instant and loses it, the
    rows are still ``sending`` (their claim was durable), and the sweeper treats them
    as a lost worker's: a reply is sent again and says so in its row, bulk is marked
    failed, never doubled. That is the rule of any ambiguous send, so losing this
    commit costs at most the documented ambiguity, and never a silent double.
    """
    now = utcnow()
    counts: dict[str, int] = {}
    retries: dict[timedelta, list[int]] = {}
    ids, statuses, errors, codes, message_ids, next_ats = [], [], [], [], [], []
    opted_out = []
    for row in rows:
        outcome = outcomes.get(row.recipient) or Outcome(row.recipient, "ambiguous", "no-answer")
        verdict = outcome.verdict
        if verdict == "ambiguous":
            # Replies: at least once (a doubled reply beats a lost one). Bulk: at most once
            # (one request carries a whole batch; doubling it doubles it for everyone).
            verdict = "retry" if row.priority == "reply" else "failed-ambiguous"
        message_id, next_at, error = None, None, ""
        if verdict == "accepted":
            status, message_id = "sent", outcome.message_id
        elif verdict == "retry" and row.attempts < int(settings()["max_attempts"]):
            delay = _backoff(row.attempts)
            status, next_at, error = "queued", now + delay, f"retrying after {outcome.code}"
            retries.setdefault(delay, []).append(row.id)
        else:
            status = "failed"
            error = {"retry": "gave up after retries", "permanent": "refused by gateway",
                     "failed-ambiguous": "may or may not have been sent; not retried",
                     }.get(verdict, verdict) + f" ({outcome.code})"
            if outcome.opted_out:
                opted_out.append(row.recipient)
        counts[status] = counts.get(status, 0) + 1
        ids.append(row.id)
        statuses.append(status)
        errors.append(error)
        codes.append(outcome.code)
        message_ids.append(message_id)
        next_ats.append(next_at)
    if _postgresql(conn):
        conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        conn.execute(RECORD_SET, {"now": now, "ids": ids, "statuses": statuses,
                                  "errors": errors, "codes": codes,
                                  "message_ids": message_ids, "next_ats": next_ats})
    else:
        conn.execute(RECORD_ROW, [
            {"b_id": i, "b_status": st, "b_error": e, "b_code": c, "b_message_id": m,
             "b_sent_at": now if st == "sent" else None, "b_next": n, "b_now": now}
            for i, st, e, c, m, n in zip(ids, statuses, errors, codes, message_ids, next_ats,
                                         strict=True)])
    if opted_out:
        conn.execute(update(Contact.__table__).where(Contact.phone.in_(opted_out),
                                                    Contact.opted_out_at.is_(None))
                     .values(opted_out_at=now))
    return counts, retries


def _backoff(attempts: int) -> timedelta:
    first = float(settings()["backoff_seconds"])
    most = float(settings()["max_backoff_seconds"])
    return timedelta(seconds=min(most, first * 2 ** max(0, attempts - 1)))


# --- the sweeper -----------------------------------------------------------------------------

def sweep(now: datetime | None = None) -> str:
    """Repair what lost jobs left behind; one line saying what was done.

    - ``queued`` rows untouched for ``stuck_minutes`` (their rq job was flushed with
      Redis, or never enqueued) are handed to rq again; a row enqueued twice is
      still sent once, because a job claims its row with a conditional update.
    - ``sending`` rows untouched that long belong to a worker that died mid-send:
      the gateway may or may not have them, so the priority's rule decides
      (replies are sent again, bulk is marked failed), as after a read timeout.
    - ``queued`` rows past ``expires_at`` are expired.
    """
    from hotline.extensions import db

    now = now or utcnow()
    stuck = now - timedelta(minutes=float(settings()["stuck_minutes"]))
    table = OutboxMessage
    with Session(db.engine) as session:
        expired = session.execute(
            update(table).where(table.status == "queued", table.expires_at <= now)
            .values(status="expired", error="expired before sending", updated_at=now)).rowcount
        lost = session.execute(
            update(table).where(table.status == "sending", table.updated_at < stuck,
                                table.priority == "bulk")
            .values(status="failed", updated_at=now, provider_status="worker-lost",
                    error="worker lost mid-send: may or may not have been sent; not retried")
        ).rowcount
        resent = session.execute(
            update(table).where(table.status == "sending", table.updated_at < stuck,
                                table.priority == "reply")
            .values(status="queued", updated_at=now, error="worker lost mid-send; sending again")
            .returning(table.id, table.priority)).all()
        due = or_(table.next_attempt_at.is_(None), table.next_attempt_at <= now)
        again = session.execute(
            update(table).where(table.status == "queued", table.updated_at < stuck, due,
                                or_(table.not_before.is_(None), table.not_before <= now))
            .values(updated_at=now).returning(table.id, table.priority)).all()
        session.commit()
    handed = enqueue([(row.id, row.priority) for row in [*resent, *again]])
    return (f"outbox: {handed} of {len(resent) + len(again)} re-enqueued "
            f"({len(resent)} after a lost worker), "
            f"{expired} expired, {lost} bulk marked failed after a lost worker")
