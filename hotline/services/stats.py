"""Numbers for the supervisor: what is waiting, what is late, how fast the first call comes.

Aggregates only, a handful of GROUP BY queries; no phone number or note is read.
"""

from __future__ import annotations

import statistics as pystats
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

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


def statistics(now: datetime | None = None, since: datetime | None = None) -> Stats:
    now = now_utc(now)
    since = utc(since)
    R = CallbackRequest
    recent = [R.created_at >= since] if since is not None else []
    is_open = R.status == "open"

    def grouped(column, *where) -> dict[str, int]:
        rows = db.session.execute(select(column, func.count()).where(*where).group_by(column))
        return {str(key) if key is not None else "unknown": n for key, n in rows}

    by_reason = grouped(R.reason, is_open)
    breached = db.session.scalar(select(func.count()).where(
        is_open, R.first_attempt_at.is_(None), R.deadline_at < now)) or 0
    late = db.session.scalar(select(func.count()).where(
        R.first_attempt_at > R.deadline_at, *recent)) or 0
    urgent = db.session.scalar(select(func.count()).where(is_open, R.priority == URGENT)) or 0
    attempted = [R.first_attempt_at.is_not(None), *recent]
    if db.engine.dialect.name == "postgresql":
        seconds = db.session.scalar(select(func.percentile_cont(0.5).within_group(
            func.extract("epoch", R.first_attempt_at - R.created_at))).where(*attempted))
        median = timedelta(seconds=float(seconds)) if seconds is not None else None
    else:  # SQLite in development: few rows, so Python can take the median
        waits = [(utc(a) - utc(c)).total_seconds() for a, c in db.session.execute(  # type: ignore
            select(R.first_attempt_at, R.created_at).where(*attempted))]
        median = timedelta(seconds=pystats.median(waits)) if waits else None
    return Stats(
        now=now, since=since, open_total=sum(by_reason.values()), open_urgent=urgent,
        open_by_reason=by_reason, open_by_language=grouped(R.language, is_open),
        open_breached=breached, late_first_attempts=late, median_to_first_attempt=median,
        by_status=grouped(R.status, *recent),
        outcomes=grouped(R.outcome, R.outcome.is_not(None), *recent),
        referrals=grouped(R.referral, R.referral.is_not(None), *recent))
