"""The outbox: every outbound SMS is a row first, and is sent later by an rq job.

``queue_sms`` adds the row to the caller's session, so it commits (or rolls back)
with whatever caused it; only after that commit is the row's id handed to rq.
If the enqueue is lost (Redis down or flushed, worker killed), the row is still
``queued`` and ``hotline sweep`` hands it over again: the database, not Redis,
is the record of what must still go out. A job that finds its row already taken
by another does nothing, so an id enqueued twice is sent once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from flask import current_app
from sqlalchemy import event, or_, select, update
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
    _after_commit_enqueue(real, row.id, priority)
    return row


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


# --- handing ids to rq once the rows are committed --------------------------------------------

def _after_commit_enqueue(session: Session, message_id: int, priority: str,
                          delay: timedelta | None = None) -> None:
    session.info.setdefault(_PENDING, []).append((message_id, priority, delay))
    if session.info.get(_HOOKED):
        return
    session.info[_HOOKED] = True
    event.listen(session, "after_commit", _on_commit)
    event.listen(session, "after_rollback", _on_rollback)


def _on_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for delay in {delay for _, _, delay in pending}:
        enqueue([(i, p) for i, p, d in pending if d == delay], delay=delay)


def _on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def enqueue(items: Iterable[tuple[int, str]], *, delay: timedelta | None = None) -> int:
    """Hand ``(message id, priority)`` pairs to rq; a failure is logged, never raised.

    A lost enqueue costs only time: the row stays ``queued`` and the sweeper hands
    it over again.
    """
    from hotline.jobqueue import jobs

    queue = jobs()
    handed = 0
    for message_id, priority in items:
        try:
            queue.enqueue(SEND_JOB, message_id, queue=QUEUE_OF[priority], delay=delay)
            handed += 1
        except Exception:  # noqa: BLE001 (Redis down: the row waits for the sweeper)
            log.warning("outbox message %s not enqueued; the sweeper will retry", message_id,
                        exc_info=True)
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


def _due(row: OutboxMessage, now: datetime) -> datetime | None:
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


def _claim(session: Session, message_id: int, now: datetime) -> list[OutboxMessage] | str:
    """Take the row and others with the same body into ``sending``, in one transaction.

    ``SKIP LOCKED`` lets several workers batch at once without waiting on each
    other; a row another worker holds is simply not in this batch.
    """
    lead = session.scalars(select(OutboxMessage)
                           .where(OutboxMessage.id == message_id,
                                  OutboxMessage.status == "queued")
                           .with_for_update(skip_locked=True)).first()
    if lead is None:
        return "taken"
    later = _due(lead, now)
    if later is not None:
        enqueue([(lead.id, lead.priority)], delay=later - now)
        return "not due"
    size = _batch_size(lead.priority, lead.parts)
    rows = [lead]
    if size > 1:
        due = or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now)
        others = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "queued", OutboxMessage.body == lead.body,
                   OutboxMessage.priority == lead.priority, OutboxMessage.id != lead.id,
                   or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
                   due)
            .order_by(OutboxMessage.id).limit(size * 2)
            .with_for_update(skip_locked=True)).all()
        seen = {lead.recipient}
        for row in others:
            if len(rows) < size and row.recipient not in seen:
                seen.add(row.recipient)
                rows.append(row)
    return rows


def _screen(session: Session, rows: list[OutboxMessage], now: datetime) -> list[OutboxMessage]:
    """Expire and suppress what must not go; the rest moves to ``sending``."""
    numbers = {row.recipient for row in rows}
    people = {c.phone: c for c in session.scalars(select(Contact)
                                                  .where(Contact.phone.in_(numbers)))}
    going = []
    for row in rows:
        contact = people.get(row.recipient)
        expires = _utc(row.expires_at)
        if expires is not None and expires <= now:
            row.status, row.error = "expired", "expired before sending"
        elif contact is not None and contact.exited_at is not None:
            row.status, row.error = "suppressed", "silent exit"
        elif row.priority == "bulk" and contact is not None and contact.opted_out_at is not None:
            row.status, row.error = "suppressed", "opted out of bulk"
        elif row.priority == "bulk" and contact is not None \
                and contact.unreachable_at is not None:
            row.status, row.error = "suppressed", "unreachable"
        else:
            row.status = "sending"
            row.attempts += 1
            going.append(row)
        if row.status in ("expired", "suppressed"):
            log.info("outbox message %s %s (%s)", row.id, row.status, row.error)
        row.updated_at = now
    return going


def send(message_id: int) -> str:
    """The rq job's body: claim a batch, ask the gateway once, record every outcome."""
    from hotline.extensions import db

    now = utcnow()
    with Session(db.engine, expire_on_commit=False) as session:
        claimed = _claim(session, message_id, now)
        if isinstance(claimed, str):
            session.commit()
            return claimed
        going = _screen(session, claimed, now)
        session.commit()
        if not going:
            return f"{len(claimed)} not sent (expired or suppressed)"
        body, parts = going[0].body, going[0].parts
        ratelimit.wait(parts * len(going))
        try:
            outcomes = {o.number: o for o in gateway().send([r.recipient for r in going], body)}
        except GatewayError as exc:
            outcomes = {r.recipient: Outcome(r.recipient, exc.verdict, exc.code) for r in going}
            log.warning("gateway refused a batch of %s: %s", len(going), exc)
        counts = _record(session, going, outcomes)
        session.commit()
    return ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))


def _record(session: Session, rows: list[OutboxMessage],
            outcomes: dict[str, Outcome]) -> dict[str, int]:
    """Write each recipient's outcome; retries go back to ``queued`` with a backoff."""
    now = utcnow()
    counts: dict[str, int] = {}
    retries: list[tuple[OutboxMessage, timedelta]] = []
    session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_([r.id for r in rows]))
                    .with_for_update().execution_options(populate_existing=True)).all()
    for row in rows:
        if row.status != "sending":  # the sweeper gave up on us meanwhile
            continue
        outcome = outcomes.get(row.recipient) or Outcome(row.recipient, "ambiguous", "no-answer")
        verdict = outcome.verdict
        if verdict == "ambiguous":
            # Replies: at least once (a doubled reply beats a lost one). Bulk: at most once
            # (one request carries a whole batch; doubling it doubles it for everyone).
            verdict = "retry" if row.priority == "reply" else "failed-ambiguous"
        row.provider_status, row.updated_at = outcome.code, now
        if verdict == "accepted":
            row.status, row.sent_at, row.error = "sent", now, ""
            row.provider_message_id = outcome.message_id
        elif verdict == "retry" and row.attempts < int(settings()["max_attempts"]):
            row.status, row.error = "queued", f"retrying after {outcome.code}"
            delay = _backoff(row.attempts)
            row.next_attempt_at = now + delay
            retries.append((row, delay))
        else:
            row.status = "failed"
            row.error = {"retry": "gave up after retries", "permanent": "refused by gateway",
                         "failed-ambiguous": "may or may not have been sent; not retried"
                         }.get(verdict, verdict) + f" ({outcome.code})"
            if outcome.opted_out:
                _opt_out(session, row.recipient, now)
        counts[row.status] = counts.get(row.status, 0) + 1
    session.flush()
    for row, delay in retries:
        _after_commit_enqueue(session, row.id, row.priority, delay)
    return counts


def _backoff(attempts: int) -> timedelta:
    first = float(settings()["backoff_seconds"])
    most = float(settings()["max_backoff_seconds"])
    return timedelta(seconds=min(most, first * 2 ** max(0, attempts - 1)))


def _opt_out(session: Session, phone: str, now: datetime) -> None:
    contact = session.scalars(select(Contact).where(Contact.phone == phone)).first()
    if contact is not None and contact.opted_out_at is None:
        contact.opted_out_at = now


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
