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
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    TextClause,
    bindparam,
    event,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from hotline.errors import HotlineError
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


class OutboxError(HotlineError, ValueError):
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


# --- one statement per batch -------------------------------------------------------------------
#
# A batch costs round trips more than anything, so on PostgreSQL it is one statement, run
# in autocommit (its own transaction, committed durably when it returns), that
#  1. writes the outcomes of the batch before (``written``: one UPDATE … FROM a JSON
#     array of rows, whatever the batch size, cheaper to pass than six arrays; only rows
#     still ``sending``, since the sweeper may have given up on a send that took too long);
#  2. takes the next batch of one text and priority (``locked``): due rows not locked by
#     another worker (SKIP LOCKED), in id order, found through ix_outbox_messages_pending_text
#     (priority, md5(body), id) of pending rows (queued or sending; migration 0014_hot_claim);
#  3. moves each to ``sending`` (changing no indexed column: a HOT update, see the model's
#     ``stage``), or straight to ``expired`` or ``suppressed`` (silent exit:
#     everything; opt-out or unreachable: bulk) when it must not go, or back to ``queued``
#     when its number is already in the batch (the same text twice to one number goes in
#     the job's next batch).
# The claim is durable before the gateway sees the batch: were it lost with a crash of
# the database, the rows would be ``queued`` again and sent twice without a trace. The
# outcomes of batch N ride on the claim of batch N+1 (of the same text, or of the job's
# next text, or a claim of nothing at the end of the job), so one commit per batch makes
# both durable and nothing is committed asynchronously. Written a moment later than the
# answer, they change nothing for a crash: a worker killed before that commit leaves
# batch N ``sending``, as one killed before a separate commit would, and the sweeper
# applies the rule of an ambiguous send. A batch is one round trip to the database and
# one to the gateway. SQLite (the embedded development default) has no md5 or row
# locks and cannot update in a WITH clause: there the outcomes are an executemany
# before the claim, in the same transaction.

_WHY = """CASE WHEN o.expires_at IS NOT NULL AND o.expires_at <= :now
                    THEN 'expired before sending'
                  WHEN c.exited_at IS NOT NULL THEN 'silent exit'
                  WHEN o.priority = 'bulk' AND c.opted_out_at IS NOT NULL
                    THEN 'opted out of bulk'
                  WHEN o.priority = 'bulk' AND c.unreachable_at IS NOT NULL THEN 'unreachable'
                  ELSE '' END"""
_WRITTEN = """written AS (
        UPDATE outbox_messages AS o
        SET status = w.status, error = w.error, provider_status = w.code,
            provider_message_id = w.message_id, next_attempt_at = w.next_at,
            sent_at = CASE WHEN w.status = 'sent' THEN CAST(:now AS timestamptz) END,
            updated_at = :now
        FROM json_to_recordset(CAST(:written AS json)) AS w (
            id integer, status text, error text, code text, message_id text, next_at timestamptz)
        -- By primary key (= ANY). Not through an index of pending rows: it holds every
        -- row a batch in flight or sent since the last vacuum left there, so reading it
        -- grew with every batch; IS TRUE is a test no index serves.
        WHERE o.id = ANY(CAST(:ids AS integer[])) AND o.id = w.id
          AND (o.status = 'sending') IS TRUE),"""


def _claim_statement(postgresql: bool) -> TextClause:
    same_text = ("md5(o.body) = md5(CAST(:body AS text)) AND o.body = :body" if postgresql
                 else "o.body = :body")
    return text(f"""
    WITH {_WRITTEN if postgresql else ""}
    locked AS (
        SELECT o.id, o.recipient, {_WHY} AS why
        FROM outbox_messages AS o LEFT JOIN contacts AS c ON c.phone = o.recipient
        WHERE o.status = 'queued' {"AND o.stage = 'pending'" if postgresql else ""}
          AND o.priority = :priority AND {same_text}
          AND (o.not_before IS NULL OR o.not_before <= :now)
          AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= :now)
        ORDER BY o.id LIMIT :size {"FOR UPDATE OF o SKIP LOCKED" if postgresql else ""}),
    picked AS (
        SELECT id AS pick_id, why,
               row_number() OVER (PARTITION BY recipient ORDER BY id) > 1 AS again
        FROM locked)
    UPDATE outbox_messages
    SET status = CASE WHEN picked.why = 'expired before sending' THEN 'expired'
                      WHEN picked.why <> '' THEN 'suppressed'
                      WHEN picked.again THEN 'queued' ELSE 'sending' END,
        attempts = CASE WHEN picked.why = '' AND NOT picked.again THEN attempts + 1
                        ELSE attempts END,
        error = picked.why, updated_at = :now
    FROM picked WHERE outbox_messages.id = picked.pick_id
    RETURNING id, recipient, priority, attempts, status, error""").bindparams(
        bindparam("now", type_=DateTime(timezone=True)), bindparam("size", type_=Integer),
        bindparam("body", type_=Text), bindparam("priority", type_=String))


CLAIM = {True: _claim_statement(postgresql=True), False: _claim_statement(postgresql=False)}
# The outcomes row by row, before the claim, where there are no arrays (SQLite).
RECORD_ROW = (update(OutboxMessage.__table__)
              .where(OutboxMessage.id == bindparam("b_id"), OutboxMessage.status == "sending")
              .values(status=bindparam("b_status"), error=bindparam("b_error"),
                      provider_status=bindparam("b_code"),
                      provider_message_id=bindparam("b_message_id"),
                      sent_at=bindparam("b_sent_at"), next_attempt_at=bindparam("b_next"),
                      updated_at=bindparam("b_now")))


@dataclass
class Written:
    """A sent batch's outcomes, waiting to be written with the next claim."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # id, status, error, code, …
    counts: dict[str, int] = field(default_factory=dict)  # rows per new status
    retries: dict[timedelta, list[tuple[int, str]]] = field(default_factory=dict)  # by delay
    opted_out: list[str] = field(default_factory=list)  # numbers the gateway says refuse us


def _postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def send(message_ids: int | list[int]) -> str:
    """The rq job's body: for the text of each id still queued, claim batches of the
    rows with that text until none is left, one gateway request per batch, and record
    every recipient's outcome.

    A job is enqueued per commit, or not at all when a job for the same text is
    already waiting (``_mark_waiting``): that one takes the rows. The job holds one
    database connection throughout (in autocommit on PostgreSQL: each statement is its
    own transaction) and hands on what is left after ``JOB_SECONDS``.
    """
    from hotline.extensions import db

    ids = [message_ids] if isinstance(message_ids, int) else list(message_ids)
    said: dict[str, int] = {}
    now = utcnow()
    om = OutboxMessage.__table__.c
    with db.engine.connect() as conn:
        if _postgresql(conn):
            conn.execution_options(isolation_level="AUTOCOMMIT")
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
                _count(said, "not due")
            else:
                texts.setdefault((lead.priority, lead.body), lead)
        began, items = time.monotonic(), list(texts.items())
        written: Written | None = None  # the batch just sent, written with the next claim
        for index, ((priority, body), lead) in enumerate(items):
            _clear_waiting(priority, body)  # before claiming: later commits enqueue anew
            more = True
            while more:
                late = time.monotonic() - began > JOB_SECONDS
                size = 0 if late else _batch_size(priority, lead.parts)
                claimed = _claim(conn, priority, body, size, written, said)
                written = None
                if late:  # a fresh job carries on, so the worker can take replies first
                    said["handed on"] = enqueue(_still_queued(conn, [k for k, _ in
                                                                     items[index:]]))
                    return _summary(said)
                going = [row for row in claimed if row.status == "sending"]
                for row in claimed:
                    if row.status not in ("sending", "queued"):  # queued: a number twice
                        log.info("outbox message %s %s (%s)", row.id, row.status, row.error)
                        _count(said, "expired or suppressed")
                if going:
                    written = _outcomes(going, _post(going, body, lead.parts))
                # A claim short of its size took every row of the text that was due and
                # free: rows committed since have a job of their own (the waiting mark
                # was cleared before the first claim), so no claim is spent finding the
                # text empty, unless a number's second row was set aside for the next.
                more = len(claimed) == size or any(r.status == "queued" for r in claimed)
        if written is not None:  # the last batch's outcomes: a claim of nothing writes them
            priority, body = items[-1][0]
            _claim(conn, priority, body, 0, written, said)
    return _summary(said)


def _count(said: dict[str, int], word: str, n: int = 1) -> None:
    said[word] = said.get(word, 0) + n


def _summary(said: dict[str, int]) -> str:
    return ", ".join(f"{n} {word}" for word, n in sorted(said.items()) if n) or "nothing"


def _claim(conn: Connection, priority: str, body: str, size: int, written: Written | None,
           said: dict[str, int]) -> list[Any]:
    """Write ``written`` and take up to ``size`` rows of the text (see the comment above
    ``_claim_statement``); once that is committed, count the outcomes written and
    enqueue their retries. Returns the rows taken or set aside."""
    now = utcnow()
    params: dict[str, Any] = {"now": now, "body": body, "priority": priority, "size": size}
    written = written or Written()
    if written.opted_out:  # rare: its own statement, so the claim below already sees it
        conn.execute(update(Contact.__table__).where(Contact.phone.in_(written.opted_out),
                                                    Contact.opted_out_at.is_(None))
                     .values(opted_out_at=now))
    if _postgresql(conn):
        params["written"] = json.dumps(written.rows, default=datetime.isoformat)
        params["ids"] = [w["id"] for w in written.rows]
    elif written.rows:
        conn.execute(RECORD_ROW, [
            {"b_id": w["id"], "b_status": w["status"], "b_error": w["error"],
             "b_code": w["code"], "b_message_id": w["message_id"],
             "b_sent_at": now if w["status"] == "sent" else None,
             "b_next": w["next_at"], "b_now": now}
            for w in written.rows])
    claimed = conn.execute(CLAIM[_postgresql(conn)], params).all()
    conn.commit()  # nothing to do in autocommit: the statement committed as it returned
    for word, n in written.counts.items():
        _count(said, word, n)
    for delay, retried in written.retries.items():
        enqueue(retried, delay=delay)
    return claimed


def _post(going: list[Any], body: str, parts: int) -> dict[str, Outcome]:
    """One gateway request for the batch, under the shared rate limit; each number's outcome."""
    ratelimit.wait(parts * len(going))
    try:
        return {o.number: o for o in gateway().send([r.recipient for r in going], body)}
    except GatewayError as exc:
        log.warning("gateway refused a batch of %s: %s", len(going), exc)
        return {r.recipient: Outcome(r.recipient, exc.verdict, exc.code) for r in going}


def _outcomes(rows: list[Any], outcomes: dict[str, Outcome]) -> Written:
    """What to write for each row sent: sent, queued again after a backoff, or failed."""
    now = utcnow()
    written = Written()
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
            written.retries.setdefault(delay, []).append((row.id, row.priority))
        else:
            status = "failed"
            error = {"retry": "gave up after retries", "permanent": "refused by gateway",
                     "failed-ambiguous": "may or may not have been sent; not retried",
                     }.get(verdict, verdict) + f" ({outcome.code})"
            if outcome.opted_out:
                written.opted_out.append(row.recipient)
        written.counts[status] = written.counts.get(status, 0) + 1
        written.rows.append({"id": row.id, "status": status, "error": error,
                             "code": outcome.code, "message_id": message_id,
                             "next_at": next_at})
    return written


def _still_queued(conn: Connection, texts: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """One queued row of each text, to lead a fresh job to all of them."""
    om = OutboxMessage.__table__.c
    found = []
    for priority, body in texts:
        same = [om.body == body]
        if _postgresql(conn):  # through ix_outbox_messages_pending_text
            same += [func.md5(om.body) == func.md5(body), om.stage == "pending"]
        first = conn.scalar(select(func.min(om.id)).where(
            om.status == "queued", om.priority == priority, *same))
        if first is not None:
            found.append((first, priority))
    conn.rollback()
    return found


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
    pending = table.stage == "pending"  # through ix_outbox_messages_stage
    with Session(db.engine) as session:
        expired = session.execute(
            update(table).where(pending, table.status == "queued", table.expires_at <= now)
            .values(status="expired", error="expired before sending", updated_at=now)).rowcount
        lost = session.execute(
            update(table).where(pending, table.status == "sending", table.updated_at < stuck,
                                table.priority == "bulk")
            .values(status="failed", updated_at=now, provider_status="worker-lost",
                    error="worker lost mid-send: may or may not have been sent; not retried")
        ).rowcount
        resent = session.execute(
            update(table).where(pending, table.status == "sending", table.updated_at < stuck,
                                table.priority == "reply")
            .values(status="queued", updated_at=now, error="worker lost mid-send; sending again")
            .returning(table.id, table.priority)).all()
        due = or_(table.next_attempt_at.is_(None), table.next_attempt_at <= now)
        again = session.execute(
            update(table).where(pending, table.status == "queued", table.updated_at < stuck,
                                due,
                                or_(table.not_before.is_(None), table.not_before <= now))
            .values(updated_at=now).returning(table.id, table.priority)).all()
        session.commit()
    handed = enqueue([(row.id, row.priority) for row in [*resent, *again]])
    return (f"outbox: {handed} of {len(resent) + len(again)} re-enqueued "
            f"({len(resent)} after a lost worker), "
            f"{expired} expired, {lost} bulk marked failed after a lost worker")
