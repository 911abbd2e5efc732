"""The statistics page's per-day summary: closed requests and staff work, counted once per day.

Why: the all-time statistics read every request ever made (a third of a second of SQL at
100,000 requests, growing with history). What a closed request contributes to the figures
no longer depends on the clock, so each local day that is over is counted once into
``stats_days`` (requests, by the day they were created) and ``stats_agent_days`` (call
attempts and closings, by the day they were logged), per reason, language and channel
and every roll-up of them ("*": any), so a page with or without filters reads about one
row per day and measure. Open requests, today, and any day not counted yet are read live
(``stats.statistics`` and ``stats.trends`` add both), so the figures are exactly those of
the live computation.

Rows do change after their day was counted (a supervisor reopens a request, a missed
call gets its reason, a late attempt is logged). Triggers (migration 0012) list the day
of every such change in ``stats_dirty`` in the writer's own transaction; until
``refresh`` counts that day again, readers count it live. ``refresh`` runs from the
sweeper (every minute) and consumes only the listings it saw, so a change committed
meanwhile stays listed. Days are counted an hour after they end (``SETTLE``) and the
triggers skip rows younger than half an hour, so no transaction still open can touch a
day being counted for the first time.

The median wait needs the waits themselves: each day also keeps a histogram of them
(``WAIT_BOUNDS``); the reader finds the bucket holding the middle rank, then reads the
exact values from the index on ``first_wait`` starting at that bucket.

PostgreSQL only; SQLite (development) always computes live.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from hotline.extensions import db

SETTLE = timedelta(hours=1)  # a day is counted this long after it ends
# Day rows are kept for the months that start at most this long before the newest counted
# day (periods of 7, 30 and 90 days start there); older history is kept per month only,
# and a change there counts its whole month again. Without this the days' rows of a
# million requests weigh more than the requests.
KEEP_DAYS = 120
ANY = "*"
# Wait buckets (seconds) for the median: 0, then one minute growing by a tenth each step
# up to about 90 days; ``width_bucket`` numbers them 0 (negative) to len(WAIT_BOUNDS).
WAIT_BOUNDS: tuple[float, ...] = (0.0, *(float(round(60 * 1.1 ** i)) for i in range(124)))
# (top in hours, code) as stats.LATENESS; repeated here to keep this module free of stats.
LATENESS = ((0, "on_time"), (1, "late_1h"), (4, "late_4h"), (24, "late_1d"), (None, "later"))
VERSION = 1


def layout(tz: str) -> str:
    """What the stored counts depend on besides the rows: a change forgets them all."""
    key = repr((VERSION, tz, WAIT_BOUNDS, LATENESS))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def usable() -> bool:
    return db.engine.dialect.name == "postgresql"


# --- counting ----------------------------------------------------------------------------------

def _lateness_case() -> str:
    hours = "date_part('epoch', r.first_attempt_at - r.deadline_at) / 3600.0"
    whens = " ".join(f"WHEN {hours} <= {top} THEN '{code}'" for top, code in LATENESS
                     if top is not None)
    last = next(code for top, code in LATENESS if top is None)
    return f"CASE WHEN r.first_attempt_at IS NULL THEN NULL {whens} ELSE '{last}' END"


def _grain(at: str) -> str:
    """The local day of ``at``, or with ``:monthly`` the first day of its month."""
    day = f"date(timezone(:tz, {at}))"
    return f"CASE WHEN :monthly THEN CAST(date_trunc('month', {day}) AS date) ELSE {day} END"


def _dims(grouped: str) -> str:
    return ", ".join(f"CASE WHEN grouping({c}) = 1 THEN '{ANY}' ELSE {c} END"
                     for c in ("reason", "lang", "channel")) if grouped else ""


# Requests created in [start, end): one row per (day, dims roll-up, measure, code).
COUNT_REQUESTS = f"""
INSERT INTO {{table}} (day, reason, language, channel, measure, code, n)
WITH picked AS (
  SELECT {_grain("r.created_at")} AS d, r.reason, coalesce(r.language, '') AS lang,
         r.channel, r.status, r.outcome, r.referral, least(r.attempts, 5) AS tries,
         r.first_attempt_at > r.deadline_at AS late, {_lateness_case()} AS lateness,
         width_bucket(r.first_wait, CAST(:bounds AS double precision[])) AS wb
  FROM callback_requests r
  WHERE r.status <> 'open' AND r.created_at >= :start AND r.created_at < :end
), base AS (
  SELECT d, reason, lang, channel, k.measure, k.code, count(*) AS n
  FROM picked, LATERAL (VALUES ('n', ''), ('status', status), ('outcome', outcome),
                               ('referral', referral), ('tries', tries::text),
                               ('late', CASE WHEN late THEN '' END), ('lateness', lateness),
                               ('wait', wb::text)) AS k(measure, code)
  WHERE k.code IS NOT NULL
  GROUP BY d, reason, lang, channel, k.measure, k.code
)
SELECT d, {_dims("grouped")}, measure, code, sum(n)
FROM base GROUP BY d, measure, code, CUBE (reason, lang, channel)
"""

# Attempts and closings logged in [start, end), by staff member and the request's dims.
COUNT_AGENTS = f"""
INSERT INTO {{table}} (day, staff_id, reason, language, channel, attempts, resolved)
WITH base AS (
  SELECT {_grain("e.at")} AS d, e.staff_id, r.reason,
         coalesce(r.language, '') AS lang, r.channel,
         count(*) FILTER (WHERE e.kind = 'attempt') AS attempts,
         count(*) FILTER (WHERE e.kind = 'resolved') AS resolved
  FROM callback_events e
  JOIN callback_requests r ON r.id = e.request_id
  JOIN staff_users s ON s.id = e.staff_id
  WHERE e.kind IN ('attempt', 'resolved') AND e.at >= :start AND e.at < :end
  GROUP BY 1, 2, 3, 4, 5
)
SELECT d, staff_id, {_dims("grouped")}, sum(attempts), sum(resolved)
FROM base GROUP BY d, staff_id, CUBE (reason, lang, channel)
"""


def _starts(conn: Connection, tz: str, days: Iterable[date]) -> dict[date, datetime]:
    """When each local day begins, as PostgreSQL's time zone data says (the counts group
    by PostgreSQL's local date, so the boundaries come from the same place)."""
    wanted = sorted(set(days))
    if not wanted:
        return {}
    rows = conn.execute(text("SELECT d, CAST(d AS timestamp) AT TIME ZONE :tz "
                             "FROM unnest(CAST(:days AS date[])) AS d"),
                        {"tz": tz, "days": wanted})
    return {d: at for d, at in rows}


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


# The months' rows are the sums of their days' rows.
ROLL_UP = {
    "stats_months": ("stats_days", "reason, language, channel, measure, code", "sum(n)"),
    "stats_agent_months": ("stats_agent_days", "reason, language, channel, staff_id",
                           "sum(attempts), sum(resolved)"),
}


def keep_from(covered_until: date) -> date:
    """The first day whose own rows are kept (a month's first day)."""
    return month_of(covered_until - timedelta(days=KEEP_DAYS))


def _count(conn: Connection, tz: str, first: date, until: date, requests: bool,
           agents: bool, keep: date) -> None:
    """Count local days [first, until) afresh (their old counts deleted first). Days from
    ``keep`` on get their own rows, summed again into their months; before ``keep`` whole
    months are counted straight into the months' table (the range widened to them)."""
    old_until = min(until, keep)
    spans = []
    if first < old_until:  # whole months, straight into the months' table
        spans.append((month_of(first), next_month(old_until - timedelta(days=1)), False))
    if max(first, keep) < until:
        spans.append((max(first, keep), until, True))
    for low, high, daily in spans:
        starts = _starts(conn, tz, [low, high])
        span = {"tz": tz, "start": starts[low], "end": starts[high], "first": low,
                "until": high, "month": month_of(low),
                "after": next_month(high - timedelta(days=1))}
        for wanted, days, months, count, extra in (
                (requests, "stats_days", "stats_months", COUNT_REQUESTS,
                 {"bounds": list(WAIT_BOUNDS)}),
                (agents, "stats_agent_days", "stats_agent_months", COUNT_AGENTS, {})):
            if not wanted:
                continue
            table = days if daily else months
            conn.execute(text(f"DELETE FROM {table} WHERE day >= :first AND day < :until"),
                         span)
            conn.execute(text(count.replace("{table}", table)),
                         {**span, **extra, "monthly": not daily})
            if not daily:
                continue
            conn.execute(text(f"DELETE FROM {months} WHERE day >= :month AND day < :after"),
                         span)
            _table, columns, sums = ROLL_UP[months]
            plain = sums.replace("sum(", "").replace(")", "")
            conn.execute(text(
                f"INSERT INTO {months} (day, {columns}, {plain}) "
                f"SELECT CAST(date_trunc('month', day) AS date), {columns}, {sums} "
                f"FROM {days} WHERE day >= :month AND day < :after GROUP BY 1, {columns}"),
                span)


def refresh(tz: str) -> str:
    """Count the days that are over and not counted yet, and count again the days whose
    rows changed since. One refresh at a time (an advisory lock: a sweep that finds one
    running leaves the work to it); safe to run any time."""
    if not usable():
        return "statistics summary: not used on this database"
    name = layout(tz)
    with db.engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = '600s'"))  # the first count is big
        if not conn.execute(text(
                "SELECT pg_try_advisory_xact_lock(hashtext('hotline.stats_days'))")).scalar():
            return "statistics summary: another refresh is running"
        state = conn.execute(text("SELECT layout, covered_from, covered_until FROM stats_state "
                                  "WHERE id = 1")).one_or_none()
        if state is None or state.layout != name:
            for table in ("stats_days", "stats_agent_days", "stats_months", "stats_agent_months",
                          "stats_dirty", "stats_state"):
                conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(text("INSERT INTO stats_state (id, layout) VALUES (1, :layout)"),
                         {"layout": name})
            covered_from = covered_until = None
        else:
            covered_from, covered_until = state.covered_from, state.covered_until
        seen = conn.execute(text("SELECT id, what, date(timezone(:tz, at)) FROM stats_dirty"),
                            {"tz": tz}).all()
        recount: dict[date, set[str]] = {}
        keep = keep_from(covered_until) if covered_until is not None else date.min
        for _id, what, day in seen:
            if covered_from is not None and covered_until is not None \
                    and covered_from <= day < covered_until:
                # before ``keep`` a change counts its whole month again (no day rows)
                recount.setdefault(day if day >= keep else month_of(day), set()).add(what)
        for day, whats in sorted(recount.items()):
            high = day + timedelta(days=1) if day >= keep else next_month(day)
            _count(conn, tz, day, min(high, covered_until or high), "r" in whats,
                   "e" in whats, keep)
        if seen:
            conn.execute(text("DELETE FROM stats_dirty WHERE id = ANY(:ids)"),
                         {"ids": [row[0] for row in seen]})
        target, earliest = conn.execute(text(
            "SELECT date(timezone(:tz, now() - CAST(:settle AS interval))), "
            "date(timezone(:tz, least((SELECT min(created_at) FROM callback_requests), "
            "(SELECT min(at) FROM callback_events WHERE kind = 'attempt'), "
            "(SELECT min(at) FROM callback_events WHERE kind = 'resolved'))))"),
            {"tz": tz, "settle": f"{int(SETTLE.total_seconds())} seconds"}).one()
        added = 0
        keep = keep_from(target)
        if earliest is not None and earliest < target:
            if covered_from is None:
                _count(conn, tz, earliest, target, True, True, keep)
                added = (target - earliest).days
                covered_from, covered_until = earliest, target
            else:
                if earliest < covered_from:
                    _count(conn, tz, earliest, covered_from, True, True, keep)
                    added += (covered_from - earliest).days
                    covered_from = earliest
                if covered_until is not None and covered_until < target:
                    _count(conn, tz, covered_until, target, True, True, keep)
                    added += (target - covered_until).days
                    covered_until = target
        if covered_until is not None:  # days that moved out of the kept ones: months only
            for table in ("stats_days", "stats_agent_days"):
                conn.execute(text(f"DELETE FROM {table} WHERE day < :keep"),
                             {"keep": keep_from(covered_until)})
        conn.execute(text("UPDATE stats_state SET covered_from = :f, covered_until = :u, "
                          "refreshed_at = now() WHERE id = 1"),
                     {"f": covered_from, "u": covered_until})
    return (f"statistics summary: {added} day(s) counted, {len(recount)} counted again, "
            f"{len(seen)} change(s) seen")


# --- reading -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Split:
    """Which rows a figure reads from the summary, which live.

    Summary: local days ``first`` <= day < ``until``, except the days in ``dirty`` and the
    months in ``blocked`` (changed since counted; before ``keep`` only whole months are
    kept, so a change there takes its month out). Live: everything else of the period:
    before ``start``, from ``end`` on, and within each of ``holes``.
    """

    first: date
    until: date
    dirty: tuple[date, ...]
    start: datetime
    end: datetime
    holes: tuple[tuple[datetime, datetime], ...]
    covered_from: date = date.min
    keep: date = date.min
    blocked: tuple[date, ...] = ()


def split(conn: Connection, tz: str, since: datetime | None, what: str) -> Split | None:
    """The summary's part of the period from ``since`` (None: all time), or None when the
    summary cannot serve it (not built, another time zone, or no whole day in the period).
    ``what``: "r" requests by creation day, "e" staff events by the day they were logged."""
    state = conn.execute(text(
        "SELECT covered_from, covered_until, "
        "(SELECT array_agg(DISTINCT date(timezone(:tz, at))) FROM stats_dirty "
        " WHERE what = :what), CAST(:since AS timestamptz), "
        "date(timezone(:tz, CAST(:since AS timestamptz))) "
        "FROM stats_state WHERE id = 1 AND layout = :layout"),
        {"tz": tz, "what": what, "since": since, "layout": layout(tz)}).one_or_none()
    if state is None or state.covered_from is None:
        return None
    covered_from, until = state.covered_from, state.covered_until
    keep = keep_from(until)
    first = covered_from
    since_day = state[4]
    if since is not None and since_day > first:
        first = since_day
        if state[3] > _starts(conn, tz, [since_day])[since_day]:  # since is inside that day
            first = since_day + timedelta(days=1)
    if first < keep and first != covered_from and first != month_of(first):
        first = next_month(first)  # before ``keep`` only whole months are kept
    if first >= until:
        return None
    changed = [d for d in (state[2] or []) if first <= d < until]
    dirty = sorted(d for d in changed if d >= keep)
    blocked = sorted({month_of(d) for d in changed if d < keep})
    ranges = [(d, d + timedelta(days=1)) for d in dirty]
    ranges += [(max(m, first), min(next_month(m), until)) for m in blocked]
    starts = _starts(conn, tz, [first, until, *(d for pair in ranges for d in pair)])
    return Split(first, until, tuple(dirty), starts[first], starts[until],
                 tuple((starts[low], starts[high]) for low, high in sorted(ranges)),
                 covered_from, keep, tuple(blocked))


def dims_where(reason: str | None, language: str | None, channel: str | None
               ) -> tuple[str, dict[str, str]]:
    """The summary rows of exactly these filters (None: any)."""
    values = {"reason": reason or ANY, "language": language or ANY, "channel": channel or ANY}
    return "reason = :reason AND language = :language AND channel = :channel", values


def days_where(part: Split) -> tuple[str, dict[str, object]]:
    """The day rows of the summary's part (every day, months not used)."""
    return ("day >= :first AND day < :until AND NOT (day = ANY(CAST(:dirty AS date[])))",
            {"first": part.first, "until": part.until, "dirty": list(part.dirty)})


def sources(part: Split, days: str, months: str, columns: str, dims: str
            ) -> tuple[str, dict[str, object]]:
    """A ``UNION ALL`` of the summary's rows for ``part``: whole months with no changed
    day from the months' table, every other day from the days' table."""
    whole: list[date] = []
    spans: list[tuple[date, date]] = []
    month = month_of(part.first)
    while month < part.until:
        after = next_month(month)
        low, high = max(month, part.first), min(after, part.until)
        starts_whole = low == month or low == part.covered_from  # nothing counted before
        if month in part.blocked:
            pass  # read live (``holes``)
        elif starts_whole and high == after and not any(month <= d < after
                                                         for d in part.dirty):
            whole.append(month)
        elif spans and spans[-1][1] == low:
            spans[-1] = (spans[-1][0], high)
        else:
            spans.append((low, high))
        month = after
    params: dict[str, object] = {"whole": whole, "dirty": list(part.dirty)}
    ranges = []
    for i, (low, high) in enumerate(spans):
        ranges.append(f"(day >= :low{i} AND day < :high{i})")
        params[f"low{i}"], params[f"high{i}"] = low, high
    picked = [f"SELECT {columns} FROM {months} WHERE {dims} "
              "AND day = ANY(CAST(:whole AS date[]))"]
    if ranges:
        picked.append(f"SELECT {columns} FROM {days} WHERE {dims} AND ({' OR '.join(ranges)}) "
                      "AND NOT (day = ANY(CAST(:dirty AS date[])))")
    return " UNION ALL ".join(picked), params
