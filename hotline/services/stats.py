"""Numbers for the supervisor: what is waiting, what is late, how fast the first call comes.

Aggregates only; no phone number or note is read. Computed live, the page runs three
queries: one pass over the open requests, one over the requests of the period, and the
median (all time, the period's pass counts the open work too: two queries). Each pass
counts several things at once (``GROUP BY`` with ``FILTER`` clauses).

Live, the period's pass reads every request of the period, which grows with history
(a third of a second at 100,000 requests, all time). On PostgreSQL, with the queue's
filters (``matching``), the closed requests of the days that are over come instead from
the per-day summary of ``statsdays`` and only the rest is read live: open requests,
today, and days changed since they were counted. Both parts are read in one snapshot
(a repeatable-read transaction), so the figures are exactly the live ones; any other
condition (a plain ``where`` list) is computed live.
"""

from __future__ import annotations

import math
import statistics as pystats
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, Float, and_, bindparam, func, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, StaffUser
from hotline.services import statsdays
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


def _median_wait(attempted: list[ColumnElement[bool]], run: Any = None) -> timedelta | None:
    """Median time from request to first call, of the requests matching ``attempted``.

    PostgreSQL computes it; ``date_part`` gives a double precision number of seconds,
    which sorts much faster than the numeric ``EXTRACT`` returns since PostgreSQL 14.
    SQLite (development, few rows) hands the waits to Python.
    """
    if db.engine.dialect.name == "postgresql":
        seconds = (run or db.session).execute(select(func.percentile_cont(0.5).within_group(
            func.date_part("epoch", R.first_attempt_at - R.created_at))).where(*attempted)
        ).scalar()
        return timedelta(seconds=float(seconds)) if seconds is not None else None
    waits = [(utc(a) - utc(c)).total_seconds() for a, c in db.session.execute(  # type: ignore
        select(R.first_attempt_at, R.created_at).where(*attempted))]
    return timedelta(seconds=pystats.median(waits)) if waits else None


class Matching(list[ColumnElement[bool]]):
    """The queue's filters as conditions, remembering their values: the per-day summary
    is counted by exactly these, so statistics with them can use it."""

    def __init__(self, reason: str | None, language: str | None, channel: str | None) -> None:
        super().__init__()
        self.values = (reason or None, language or None, channel or None)
        if reason:
            self.append(R.reason == reason)
        if language:
            self.append(R.language == language)
        if channel:
            self.append(R.channel == channel)


def matching(reason: str | None = None, language: str | None = None,
             channel: str | None = None) -> list[ColumnElement[bool]]:
    """The queue's filters as conditions (values checked by the caller)."""
    return Matching(reason, language, channel)


def _summary_filters(where: list[ColumnElement[bool]] | None
                     ) -> tuple[str | None, str | None, str | None] | None:
    """The filter values the summary can serve, or None: compute live."""
    if not statsdays.usable():
        return None
    if not where:
        return (None, None, None)
    return where.values if isinstance(where, Matching) else None


def timezone() -> str:
    """The centre's time zone: the summary's local days are days there."""
    return str(current_app.config["TIMEZONE"])


_shared: ContextVar[Connection | None] = ContextVar("stats_snapshot", default=None)


@contextmanager
def one_snapshot() -> Iterator[None]:
    """``statistics`` and ``trends`` called inside read through one snapshot: the page's
    figures are of one moment, and it costs one connection and transaction, not two."""
    if db.engine.dialect.name != "postgresql" or _shared.get() is not None:
        yield
        return
    with _snapshot() as conn:
        token = _shared.set(conn)
        try:
            yield
        finally:
            _shared.reset(token)


@contextmanager
def _snapshot() -> Iterator[Connection]:
    """A read-only repeatable-read transaction: the summary and the live rows are read as
    of one moment, so a change committed meanwhile is counted in neither or both."""
    shared = _shared.get()
    if shared is not None:
        yield shared
        return
    with db.engine.connect() as conn:
        # psycopg opens it with "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY": no
        # separate "SET TRANSACTION" round trip
        conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                      postgresql_readonly=True)
        with conn.begin():
            yield conn


def _live_part(part: statsdays.Split, at: Any, open_too: bool,
               since: datetime | None) -> ColumnElement[bool]:
    """Rows from ``since`` on that the summary does not count: outside its days, in a day
    changed since it was counted, and (for requests) any still open.

    Each alternative is bounded on its own, so PostgreSQL combines small index ranges
    (and the open requests of the status index) instead of reading every row from
    ``since`` on (a year of them for an all-time page, 90 days for the per-day chart).
    """
    low = [at >= since] if since is not None else []
    parts: list[ColumnElement[bool]] = [and_(*low, at < part.start), at >= part.end]
    parts += [and_(at >= start, at < end) for start, end in part.holes]
    if open_too:
        parts.insert(0, and_(R.status == "open", *low))
    return or_(*parts)


def _summary(conn: Connection, part: statsdays.Split,
             values: tuple[str | None, str | None, str | None]) -> list[tuple[str, str, int]]:
    dims, params = statsdays.dims_where(*values)
    rows, more = statsdays.sources(part, "stats_days", "stats_months", "measure, code, n",
                                   dims)
    return [(m, c, int(n)) for m, c, n in conn.execute(text(
        f"SELECT measure, code, sum(n) FROM ({rows}) AS counted GROUP BY measure, code"),
        {**params, **more})]


WAIT_BOUNDS = bindparam("wait_bounds", list(statsdays.WAIT_BOUNDS), type_=ARRAY(Float))


def _exact_median(conn: Connection, attempted: list[ColumnElement[bool]],
                  histogram: Counter[int]) -> timedelta | None:
    """``percentile_cont(0.5)`` of the waits, from their histogram and two values read
    from the index on ``first_wait``: the bucket holding the middle rank says where to
    start, the offset within it where to stop. Same arithmetic as PostgreSQL's."""
    total = sum(histogram.values())
    if not total:
        return None
    position = 0.5 * (total - 1)
    low, high = math.floor(position), math.ceil(position)
    below = 0
    bucket = 0
    for bucket in sorted(histogram):
        if below + histogram[bucket] > low:
            break
        below += histogram[bucket]
    start = [R.first_wait >= statsdays.WAIT_BOUNDS[bucket - 1]] if bucket >= 1 else []
    values: list[float] = list(conn.execute(
        select(R.first_wait).where(*attempted, *start)
        .order_by(R.first_wait).offset(low - below).limit(2)).scalars())  # type: ignore[arg-type]
    first = float(values[0])
    if low == high:
        return timedelta(seconds=first)
    second = float(values[1])
    return timedelta(seconds=first + ((position - low) * (second - first)))


def statistics(now: datetime | None = None, since: datetime | None = None,
               where: list[ColumnElement[bool]] | None = None, live: bool = False) -> Stats:
    """The numbers of the statistics page.

    Open work is always all of it; ``since`` limits the rest to requests created since;
    ``where`` (see ``matching``) narrows both, as the queue's filters do. With the queue's
    filters on PostgreSQL, closed requests of counted days come from the per-day summary;
    ``live`` reads every row instead (what the summary must equal).
    """
    values = None if live else _summary_filters(where)
    if values is not None:
        with _snapshot() as conn:
            part = statsdays.split(conn, timezone(), utc(since), "r")
            if part is not None:
                return _statistics(conn, now, since, where, part, values)
    return _statistics(db.session, now, since, where, None, None)


def _statistics(run: Any, now: datetime | None, since: datetime | None,
                where: list[ColumnElement[bool]] | None, part: statsdays.Split | None,
                values: tuple[str | None, str | None, str | None] | None) -> Stats:
    """The figures, reading through ``run`` (a session or a snapshot's connection); with
    ``part``, what the summary counts comes from it and only the rest is read live."""
    now = now_utc(now)
    since = utc(since)
    where = list(where or [])
    recent = [R.created_at >= since, *where] if since is not None else where
    live = [*where, _live_part(part, R.created_at, True, since)] if part is not None \
        else recent

    by_reason: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    urgent = breached = 0
    postgres = db.engine.dialect.name == "postgresql"
    # All time on PostgreSQL, the period's pass reads every open request anyway: it
    # counts the open work too, in a grouping set of its own (reason, language), so the
    # open requests are read once, not twice.
    merged = since is None and postgres
    if not merged:
        for reason, language, n, n_urgent, n_breached in run.execute(
                select(R.reason, R.language, func.count(), *_open_counts(now))
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
    tries = func.least(R.attempts, 5) if postgres else func.min(R.attempts, 5)
    buckets = _lateness_buckets(now) if postgres else []
    # with the summary, the same pass sorts the waits into the median's buckets
    wait = [func.width_bucket(R.first_wait, WAIT_BOUNDS)] if part is not None else []
    waits: Counter[int] = Counter()
    period = [R.status, R.outcome, R.referral, tries, *wait]
    if merged:
        is_open = R.status == "open"
        extra = [func.grouping(R.reason, R.language), R.reason, R.language,
                 func.count().filter(is_open),
                 *_open_counts(now, is_open)]
        grouped: list[Any] = [func.grouping_sets(tuple_(*period), tuple_(R.reason, R.language))]
    else:
        extra, grouped = [], list(period)
    # one pass over the period's requests counts all of it, the charts' buckets included
    for status, outcome, referral, k, n, n_late, *rest in run.execute(
            select(*period[:4], func.count(),
                   func.count().filter(R.first_attempt_at > R.deadline_at), *buckets,
                   *wait, *extra)
            .where(*live).group_by(*grouped)):
        if merged:
            *rest, not_by_reason, reason, language, n_open, n_urgent, n_breached = rest
            if not not_by_reason:  # a row of the open work's set (grouped by reason)
                if n_open:
                    by_reason[_key(reason)] += n_open
                    by_language[_key(language)] += n_open
                    urgent += n_urgent
                    breached += n_breached
                continue
        by_lateness = rest[:len(buckets)]
        if wait and rest[-1] is not None:
            waits[int(rest[-1])] += n
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

    attempted = [R.first_attempt_at.is_not(None), *recent]
    if part is None or values is None:
        median = _median_wait(attempted, run)
    else:
        counters: dict[str, Counter[Any]] = {"status": by_status, "outcome": outcomes,
                                             "referral": referrals, "lateness": lateness}
        for measure, code, n in _summary(run, part, values):
            if measure in counters:
                counters[measure][code] += n
            elif measure == "tries":
                attempts[int(code)] += n
            elif measure == "late":
                late += n
            elif measure == "wait":
                waits[int(code)] += n
        median = _exact_median(run, [R.first_wait.is_not(None), *recent], waits)

    return Stats(
        now=now, since=since, open_total=sum(by_reason.values()), open_urgent=urgent,
        open_by_reason=dict(by_reason), open_by_language=dict(by_language),
        open_breached=breached, late_first_attempts=late,
        median_to_first_attempt=median,
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
           where: list[ColumnElement[bool]] | None = None, live: bool = False) -> Trends:
    """The per-day and per-staff charts' data: two grouped queries, or with the queue's
    filters on PostgreSQL, the per-day summary plus what it does not count."""
    now = now_utc(now)
    since = utc(since)
    values = _summary_filters(where) if tz == timezone() and not live else None
    where = list(where) if where else []
    day_start = max(since or now - timedelta(days=DAILY_MAX), now - timedelta(days=DAILY_MAX))
    if db.engine.dialect.name != "postgresql":
        return _trends_in_python(tz, day_start, where, _agents(db.session, since, where))
    if values is None:
        return Trends(_per_day(db.session, tz, day_start, where, None, None),
                      _agents(db.session, since, where))
    with _snapshot() as conn:
        days = statsdays.split(conn, tz, day_start, "r")
        if days is not None and days.first < days.keep:
            days = None  # the chart's days have no rows of their own there: read live
        work = statsdays.split(conn, tz, since, "e")
        return Trends(_per_day(conn, tz, day_start, where, days, values),
                      _agents(conn, since, where, work, values))


def _per_day(run: Any, tz: str, day_start: datetime, where: list[ColumnElement[bool]],
             part: statsdays.Split | None,
             values: tuple[str | None, str | None, str | None] | None
             ) -> dict[tuple[date, str, str], int]:
    local_day = func.date(func.timezone(tz, R.created_at))
    live = [_live_part(part, R.created_at, True, day_start)] if part is not None \
        else [R.created_at >= day_start]
    per_day: Counter[tuple[date, str, str]] = Counter({
        (d, reason, channel): n for d, reason, channel, n in run.execute(
            select(local_day, R.reason, R.channel, func.count())
            .where(*where, *live)
            .group_by(local_day, R.reason, R.channel))})
    if part is not None and values is not None:  # from ``keep`` on (90 days at most)
        reason, language, channel = values
        days, params = statsdays.days_where(part)
        for d, r, c, n in run.execute(text(
                "SELECT day, reason, channel, sum(n) FROM stats_days "
                f"WHERE measure = 'n' AND code = '' AND language = :language AND {days} "
                "AND reason " + ("= :reason" if reason else "<> '*'") +
                " AND channel " + ("= :channel" if channel else "<> '*'") +
                " GROUP BY day, reason, channel"),
                {**params, "language": language or statsdays.ANY, "reason": reason,
                 "channel": channel}):
            per_day[(d, r, c)] += int(n)
    return dict(per_day)


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


def _open_counts(now: datetime, *also: ColumnElement[bool]) -> list[ColumnElement[int]]:
    """``FILTER`` counts of the open work: urgent, and nobody tried before the deadline."""
    return [func.count().filter(R.priority == URGENT, *also),
            func.count().filter(R.first_attempt_at.is_(None), R.deadline_at < now, *also)]


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


def _agents(run: Any, since: datetime | None, where: list[ColumnElement[bool]],
            part: statsdays.Split | None = None,
            values: tuple[str | None, str | None, str | None] | None = None
            ) -> dict[str, tuple[int, int]]:
    """Per staff member: call attempts logged and requests closed in the period. Keyed by
    the name staff see; two people of one name (common enough) are told apart by e-mail,
    so neither's work is shown as the other's."""
    E = CallbackEvent
    in_period = [E.at >= since] if since is not None else []
    if part is not None:
        in_period = [_live_part(part, E.at, False, since)]
    filtered = select(R.id).where(*where) if where else None
    counted: Counter[int] = Counter()
    closed: Counter[int] = Counter()
    names: dict[int, tuple[str, str]] = {}
    for staff_id, name, email, a, r in run.execute(
            select(StaffUser.id, StaffUser.name, StaffUser.email,
                   func.count().filter(E.kind == "attempt"),
                   func.count().filter(E.kind == "resolved"))
            .join(StaffUser, StaffUser.id == E.staff_id)
            .where(E.kind.in_(("attempt", "resolved")), *in_period,
                   *([E.request_id.in_(filtered)] if filtered is not None else []))
            .group_by(StaffUser.id, StaffUser.name, StaffUser.email)):
        counted[staff_id] += a
        closed[staff_id] += r
        names[staff_id] = (name or email, email)
    if part is not None and values is not None:
        dims, params = statsdays.dims_where(*values)
        rows, more = statsdays.sources(part, "stats_agent_days", "stats_agent_months",
                                       "staff_id, attempts, resolved", dims)
        for staff_id, a, r in run.execute(text(
                f"SELECT staff_id, sum(attempts), sum(resolved) FROM ({rows}) AS counted "
                "GROUP BY staff_id"), {**params, **more}):
            counted[staff_id] += int(a)
            closed[staff_id] += int(r)
        missing = [i for i in counted if i not in names]
        if missing:
            names.update({i: (name or email, email) for i, name, email in run.execute(
                select(StaffUser.id, StaffUser.name, StaffUser.email)
                .where(StaffUser.id.in_(missing)))})
    shown = Counter(names[i][0] for i in counted)
    return {(label if shown[label] == 1 else f"{label} ({email})"): (counted[i], closed[i])
            for i in sorted(counted) for label, email in [names[i]]}
