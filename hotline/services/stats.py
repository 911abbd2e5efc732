"""Numbers for the supervisor: what is waiting, what is late, how fast the first call comes.

Aggregates only; no phone number or note is read. The page runs three queries: one
pass over the open requests, one over the requests of the period, and the median.
Each pass counts several things at once (``GROUP BY`` with ``FILTER`` clauses), because
with a year of requests every extra scan of the table costs tens of milliseconds;
the period is served by the index on ``created_at`` (migration 0003).
"""

from __future__ import annotations

import statistics as pystats
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, StaffUser
from hotline.services.callback_policy import URGENT, now_utc, utc


@dataclass(frozen=True)
class Stats:
    """Open work now, and how closed work went (since ``since``, if given).

    ``open_breached``: open requests nobody tried to call before their deadline.
    ``late_first_attempts``: requests whose first call came after the deadline.
    ``median_to_first_attempt``: wall-clock time from request to first call.
    """

    now: datetime
    since: datetime | None
    open_total: int
    open_urgent: int
    open_by_reason: Mapping[str, int]
    open_by_language: Mapping[str, int]  # no language yet (a missed call): "unknown"
    open_breached: int
    late_first_attempts: int
    median_to_first_attempt: timedelta | None
    by_status: Mapping[str, int]
    outcomes: Mapping[str, int]
    referrals: Mapping[str, int]
    # first call against the deadline (``LATENESS`` codes plus ``waiting_late``: not called
    # and past the deadline now), and requests by call attempts (``5``: five or more)
    lateness: Mapping[str, int] = field(default_factory=dict)
    attempts: Mapping[int, int] = field(default_factory=dict)


R = CallbackRequest

# How late the first call came, as buckets (upper bound in hours, code); "waiting_late":
# not called yet and past the deadline now.
LATENESS = ((0, "on_time"), (1, "late_1h"), (4, "late_4h"), (24, "late_1d"), (None, "later"))
LATENESS_CODES = (*(code for _top, code in LATENESS), "waiting_late")
DAILY_MAX = 90  # days in the per-day charts, whatever the period


def _key(value: object) -> str:
    return str(value) if value is not None else "unknown"


def _median_wait(attempted: list[ColumnElement[bool]]) -> timedelta | None:
    """Median time from request to first call, of the requests matching ``attempted``.

    PostgreSQL computes it; ``date_part`` gives a double precision number of seconds,
    which sorts much faster than the numeric ``EXTRACT`` returns since PostgreSQL 14.
    SQLite (development, few rows) hands the waits to Python.
    """
    if db.engine.dialect.name == "postgresql":
        seconds = db.session.scalar(select(func.percentile_cont(0.5).within_group(
            func.date_part("epoch", R.first_attempt_at - R.created_at))).where(*attempted))
        return timedelta(seconds=float(seconds)) if seconds is not None else None
    waits = [(utc(a) - utc(c)).total_seconds() for a, c in db.session.execute(  # type: ignore
        select(R.first_attempt_at, R.created_at).where(*attempted))]
    return timedelta(seconds=pystats.median(waits)) if waits else None


def matching(reason: str | None = None, language: str | None = None,
             channel: str | None = None) -> list[ColumnElement[bool]]:
    """The queue's filters as conditions (values checked by the caller)."""
    where = []
    if reason:
        where.append(R.reason == reason)
    if language:
        where.append(R.language == language)
    if channel:
        where.append(R.channel == channel)
    return where


def statistics(now: datetime | None = None, since: datetime | None = None,
               where: list[ColumnElement[bool]] | None = None) -> Stats:
    """The numbers of the statistics page, in three queries whatever the period.

    Open work is always all of it; ``since`` limits the rest to requests created since;
    ``where`` (see ``matching``) narrows both, as the queue's filters do.
    """
    now = now_utc(now)
    since = utc(since)
    where = list(where or [])
    recent = [R.created_at >= since, *where] if since is not None else where

    by_reason: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    urgent = breached = 0
    for reason, language, n, n_urgent, n_breached in db.session.execute(
            select(R.reason, R.language, func.count(),
                   func.count().filter(R.priority == URGENT),
                   func.count().filter(R.first_attempt_at.is_(None), R.deadline_at < now))
            .where(R.status == "open", *where).group_by(R.reason, R.language)):
        by_reason[_key(reason)] += n
        by_language[_key(language)] += n
        urgent += n_urgent
        breached += n_breached

    by_status: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    referrals: Counter[str] = Counter()
    late = 0
    lateness: Counter[str] = Counter(dict.fromkeys(LATENESS_CODES, 0))
    attempts: Counter[int] = Counter()
    postgres = db.engine.dialect.name == "postgresql"
    tries = func.least(R.attempts, 5) if postgres else func.min(R.attempts, 5)
    buckets = _lateness_buckets(now) if postgres else []
    # one pass over the period's requests counts all of it, the charts' buckets included
    for status, outcome, referral, k, n, n_late, *by_lateness in db.session.execute(
            select(R.status, R.outcome, R.referral, tries, func.count(),
                   func.count().filter(R.first_attempt_at > R.deadline_at), *buckets)
            .where(*recent).group_by(R.status, R.outcome, R.referral, tries)):
        by_status[_key(status)] += n
        if outcome is not None:
            outcomes[str(outcome)] += n
        if referral is not None:
            referrals[str(referral)] += n
        late += n_late
        attempts[int(k)] += n
        for code, count in zip(LATENESS_CODES, by_lateness, strict=False):
            lateness[code] += count
    if not postgres:  # SQLite (development, few rows): the buckets are counted here
        lateness = _lateness_in_python(recent, now)

    return Stats(
        now=now, since=since, open_total=sum(by_reason.values()), open_urgent=urgent,
        open_by_reason=dict(by_reason), open_by_language=dict(by_language),
        open_breached=breached, late_first_attempts=late,
        median_to_first_attempt=_median_wait([R.first_attempt_at.is_not(None), *recent]),
        by_status=dict(by_status), outcomes=dict(outcomes), referrals=dict(referrals),
        lateness=dict(lateness), attempts=dict(attempts))




@dataclass(frozen=True)
class Trends:
    """What the charts draw; every mapping is code -> count.

    ``per_day``: (local date, reason, channel) -> requests created that day (the last
    ``DAILY_MAX`` days at most). ``agents``: staff name -> (attempts logged, requests
    closed) in the period. Lateness and attempts come with ``Stats``, from its pass.
    """

    per_day: Mapping[tuple[date, str, str], int]
    agents: Mapping[str, tuple[int, int]]


def trends(tz: str, now: datetime | None = None, since: datetime | None = None,
           where: list[ColumnElement[bool]] | None = None) -> Trends:
    """The per-day and per-staff charts' data: two grouped queries."""
    now = now_utc(now)
    since = utc(since)
    where = list(where or [])
    day_start = max(since or now - timedelta(days=DAILY_MAX), now - timedelta(days=DAILY_MAX))
    agents = _agents(since, where)
    if db.engine.dialect.name != "postgresql":
        return _trends_in_python(tz, day_start, where, agents)
    local_day = func.date(func.timezone(tz, R.created_at))
    per_day = {(d, reason, channel): n for d, reason, channel, n in db.session.execute(
        select(local_day, R.reason, R.channel, func.count())
        .where(R.created_at >= day_start, *where)
        .group_by(local_day, R.reason, R.channel))}
    return Trends(per_day, agents)


def _lateness_code(first: datetime | None, deadline: datetime, status: str,
                   now: datetime) -> str | None:
    if first is None:
        return "waiting_late" if status == "open" and deadline < now else None
    hours = (first - deadline).total_seconds() / 3600
    return next(code for top, code in LATENESS if top is None or hours <= top)


def _trends_in_python(tz: str, day_start: datetime, where: list[ColumnElement[bool]],
                      agents: Mapping[str, tuple[int, int]]) -> Trends:
    """The same per-day numbers on SQLite (development, few rows), counted here."""
    zone = ZoneInfo(tz)
    per_day: Counter[tuple[date, str, str]] = Counter()
    for created, reason, channel in db.session.execute(
            select(R.created_at, R.reason, R.channel).where(R.created_at >= day_start, *where)):
        per_day[(utc(created).astimezone(zone).date(), reason, channel)] += 1  # type: ignore
    return Trends(dict(per_day), agents)


def _lateness_buckets(now: datetime) -> list[ColumnElement[int]]:
    """``FILTER`` counts, in ``LATENESS_CODES`` order, of how late the first call came."""
    hours = func.date_part("epoch", R.first_attempt_at - R.deadline_at) / 3600.0
    called = R.first_attempt_at.is_not(None)
    buckets: list[ColumnElement[int]] = [func.count().filter(called, hours <= 0)]
    lower = 0
    for top, _code in LATENESS[1:]:
        upper = [hours <= top] if top is not None else []
        buckets.append(func.count().filter(called, hours > lower, *upper))
        lower = top or lower
    buckets.append(func.count().filter(R.first_attempt_at.is_(None), R.status == "open",
                                       R.deadline_at < now))
    return buckets


def _lateness_in_python(recent: list[ColumnElement[bool]], now: datetime) -> Counter[str]:
    lateness: Counter[str] = Counter(dict.fromkeys(LATENESS_CODES, 0))
    for first, deadline, status in db.session.execute(
            select(R.first_attempt_at, R.deadline_at, R.status).where(*recent)):
        code = _lateness_code(utc(first), utc(deadline), status, now)  # type: ignore[arg-type]
        if code:
            lateness[code] += 1
    return lateness


def _agents(since: datetime | None, where: list[ColumnElement[bool]]
            ) -> dict[str, tuple[int, int]]:
    """Per staff member: call attempts logged and requests closed in the period."""
    E = CallbackEvent
    in_period = [E.at >= since] if since is not None else []
    filtered = select(R.id).where(*where) if where else None
    agent_rows = db.session.execute(
        select(StaffUser.name, StaffUser.email,
               func.count().filter(E.kind == "attempt"), func.count().filter(E.kind == "resolved"))
        .join(StaffUser, StaffUser.id == E.staff_id)
        .where(E.kind.in_(("attempt", "resolved")), *in_period,
               *([E.request_id.in_(filtered)] if filtered is not None else []))
        .group_by(StaffUser.id, StaffUser.name, StaffUser.email))
    return {(name or email): (a, r) for name, email, a, r in agent_rows}
