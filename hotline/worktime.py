"""Working-time arithmetic: deadlines and call windows that skip nights, weekends and holidays.

The MRRC works Sunday to Thursday in Africa/Khartoum; a deadline of "2 working
hours" asked for on Thursday at 14:30 falls on Sunday morning, not on Friday.
Pure standard library, so the flow engine's tests and the services share it.
All inputs and outputs are timezone-aware datetimes; naive ones are refused,
because a silent guess at the zone is how callbacks end up an hour late.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hotline.errors import HotlineError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
MAX_SCAN_DAYS = 400  # a schedule that never opens is a configuration error, not a hang


class WorktimeError(HotlineError, ValueError):
    """A schedule that cannot be used (bad day name, bad hours, never open); a
    ``ValueError`` too, as the bad value it comes from."""


def parse_span(text: str) -> tuple[time, time]:
    """``"08:00-15:00"`` -> ``(08:00, 15:00)``; the end must come after the start."""
    try:
        start_text, end_text = (part.strip() for part in str(text).split("-"))
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    except ValueError:
        raise WorktimeError(f"hours must look like 08:00-15:00, got {text!r}") from None
    if end <= start:
        raise WorktimeError(f"hours {text!r} end before they start")
    return start, end


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise WorktimeError("working-time arithmetic needs timezone-aware datetimes")
    return at


@dataclass(frozen=True)
class WorkWeek:
    """Open days (``date.weekday()`` numbers), daily open spans and closed dates, in ``tz``."""

    tz: ZoneInfo
    days: frozenset[int]
    spans: tuple[tuple[time, time], ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def build(cls, tz: str, days: Iterable[str], spans: Iterable[str],
              holidays: Iterable[str] = ()) -> WorkWeek:
        """A schedule from configuration words; every problem raises ``WorktimeError``."""
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise WorktimeError(f"unknown time zone {tz!r}") from None
        numbers = set()
        for name in days:
            key = str(name).strip().lower()[:3]
            if key not in DAY_NAMES:
                raise WorktimeError(f"unknown day {name!r}; use sun, mon, tue, ...")
            numbers.add(DAY_NAMES.index(key))
        try:
            closed = frozenset(date.fromisoformat(str(d)) for d in holidays)
        except ValueError:
            raise WorktimeError(f"holidays must be YYYY-MM-DD dates, got {list(holidays)!r}"
                                ) from None
        week = cls(zone, frozenset(numbers), (), closed)
        return week.with_spans(spans)

    def with_spans(self, spans: Iterable[str | tuple[time, time]]) -> WorkWeek:
        """The same days and holidays with other daily spans (a caller's safe times)."""
        parsed = sorted(parse_span(s) if isinstance(s, str) else s for s in spans)
        merged: list[tuple[time, time]] = []
        for start, end in parsed:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        if not self.days or not merged:
            raise WorktimeError("a schedule needs at least one day and one span of hours")
        return replace(self, spans=tuple(merged))

    @property
    def day_length(self) -> timedelta:
        """Open time in one working day: what "one working day" of work adds."""
        base = date(2000, 1, 1)
        return sum((datetime.combine(base, e) - datetime.combine(base, s) for s, e in self.spans),
                   timedelta())

    def local(self, at: datetime) -> datetime:
        return _aware(at).astimezone(self.tz)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def intervals(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (aware, in ``tz``) that end after ``at``, in order, from that day on."""
        here = self.local(at)
        day = here.date()
        for _ in range(MAX_SCAN_DAYS):
            if self.is_working_day(day):
                for start, end in self.spans:
                    opens = datetime.combine(day, start, tzinfo=self.tz)
                    closes = datetime.combine(day, end, tzinfo=self.tz)
                    if closes > here:
                        yield max(opens, here), closes
            day += timedelta(days=1)
        raise WorktimeError(f"no open hours within {MAX_SCAN_DAYS} days")

    def is_open(self, at: datetime) -> bool:
        opens, _ = next(self.intervals(at))
        return opens <= self.local(at)

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the next moment the schedule opens."""
        opens, _ = next(self.intervals(at))
        return opens

    def add(self, at: datetime, amount: timedelta) -> datetime:
        """``at`` plus ``amount`` of open time; counting starts at the next opening."""
        if amount < timedelta():
            raise WorktimeError("cannot add negative working time")
        left = amount
        for opens, closes in self.intervals(at):
            if opens + left <= closes:
                return opens + left
            left -= closes - opens
        raise AssertionError("unreachable: intervals() raises first")  # pragma: no cover

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Open time from ``start`` to ``end`` (zero when ``end`` is not later).

        Proportional to the weeks in between, not the days: the queue page asks this of
        every old request (walking day by day was most of its time). The first and last
        days are measured; every whole working day between adds ``day_length``. Times
        are compared on the local wall clock, as ``intervals`` does.
        """
        here, end = self.local(start), self.local(end)
        if end <= here:
            return timedelta()
        first, last = here.date(), end.date()
        if first == last:
            return self._open_on(first, here.time(), end.time())
        one = timedelta(days=1)
        return (self._open_on(first, after=here.time())
                + self.day_length * self.working_days(first + one, last - one)
                + self._open_on(last, before=end.time()))

    def _open_on(self, day: date, after: time | None = None, before: time | None = None
                 ) -> timedelta:
        """Open time on ``day`` between two wall-clock times (from opening, to closing)."""
        total = timedelta()
        if not self.is_working_day(day):
            return total
        for opens, closes in self.spans:
            low = opens if after is None else max(opens, after)
            high = closes if before is None else min(closes, before)
            if high > low:
                total += datetime.combine(day, high) - datetime.combine(day, low)
        return total

    def working_days(self, first: date, last: date) -> int:
        """Working days from ``first`` to ``last``, both included: whole weeks counted at
        once, then the rest of a week, then holidays that fell on a working day."""
        if last < first:
            return 0
        weeks, rest = divmod(last.toordinal() - first.toordinal() + 1, 7)
        count = weeks * len(self.days) + sum((first.weekday() + i) % 7 in self.days
                                             for i in range(rest))
        return count - sum(1 for day in self.holidays
                           if first <= day <= last and day.weekday() in self.days)


def hours_label(span: str) -> str:
    """``"15:00-18:00"`` as callers say it: ``"3-6"`` (the 12-hour clock; the label's word,
    "morning" or «عصرا», says which half of the day). Minutes only when not on the hour.
    """
    def short(at: time) -> str:
        hour = at.hour % 12 or 12
        return f"{hour}:{at.minute:02d}" if at.minute else str(hour)

    start, end = parse_span(span)
    return f"{short(start)}-{short(end)}"


def day_word(now: datetime, target: datetime, tz: ZoneInfo) -> str:
    """How a caller hears a day: ``today``, ``tomorrow`` or a day name (``sun``...)."""
    today = _aware(now).astimezone(tz).date()
    day = _aware(target).astimezone(tz).date()
    if day <= today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    return DAY_NAMES[day.weekday()]
