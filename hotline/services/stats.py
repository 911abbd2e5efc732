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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from hotline.extensions import db
from hotline.models import CallbackRequest
from hotline.services.callbacks import URGENT, now_utc, utc


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


R = CallbackRequest


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


def statistics(now: datetime | None = None, since: datetime | None = None) -> Stats:
    """The numbers of the statistics page, in three queries whatever the period.

    Open work is always all of it; ``since`` limits the rest to requests created since.
    """
    now = now_utc(now)
    since = utc(since)
    recent = [R.created_at >= since] if since is not None else []

    by_reason: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    urgent = breached = 0
    for reason, language, n, n_urgent, n_breached in db.session.execute(
            select(R.reason, R.language, func.count(),
                   func.count().filter(R.priority == URGENT),
                   func.count().filter(R.first_attempt_at.is_(None), R.deadline_at < now))
            .where(R.status == "open").group_by(R.reason, R.language)):
        by_reason[_key(reason)] += n
        by_language[_key(language)] += n
        urgent += n_urgent
        breached += n_breached

    by_status: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    referrals: Counter[str] = Counter()
    late = 0
    for status, outcome, referral, n, n_late in db.session.execute(
            select(R.status, R.outcome, R.referral, func.count(),
                   func.count().filter(R.first_attempt_at > R.deadline_at))
            .where(*recent).group_by(R.status, R.outcome, R.referral)):
        by_status[_key(status)] += n
        if outcome is not None:
            outcomes[str(outcome)] += n
        if referral is not None:
            referrals[str(referral)] += n
        late += n_late

    return Stats(
        now=now, since=since, open_total=sum(by_reason.values()), open_urgent=urgent,
        open_by_reason=dict(by_reason), open_by_language=dict(by_language),
        open_breached=breached, late_first_attempts=late,
        median_to_first_attempt=_median_wait([R.first_attempt_at.is_not(None), *recent]),
        by_status=dict(by_status), outcomes=dict(outcomes), referrals=dict(referrals))
