"""Working-time arithmetic: Sunday-Thursday, 08:00-15:00, Africa/Khartoum (UTC+2)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.worktime import WorktimeError, WorkWeek, day_word, parse_span

KRT = ZoneInfo("Africa/Khartoum")
WEEK = WorkWeek.build("Africa/Khartoum", ["sun", "mon", "tue", "wed", "thu"], ["08:00-15:00"])
# 2026-11-26 is a Thursday; 27 Friday, 28 Saturday, 29 Sunday, 30 Monday.


def k(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=KRT)


@pytest.mark.parametrize(("start", "hours", "expected"), [
    (k(26, 14, 30), 2, k(29, 9, 30)),   # Thursday afternoon: over the weekend to Sunday
    (k(26, 13), 2, k(26, 15)),          # ends exactly at closing: same day, not Sunday 08:00
    (k(26, 13, 1), 2, k(29, 8, 1)),
    (k(27, 10), 2, k(29, 10)),          # Friday: counting starts Sunday 08:00
    (k(28, 23), 2, k(29, 10)),          # Saturday night
    (k(29, 6), 2, k(29, 10)),           # before opening
    (k(29, 15, 30), 2, k(30, 10)),      # after closing
    (k(30, 9), 7, datetime(2026, 12, 1, 9, tzinfo=KRT)),   # one working day: same time tomorrow
    (k(26, 14, 30), 7, k(29, 14, 30)),  # one working day from Thursday: Sunday
    (k(27, 10), 0, k(29, 8)),           # nothing to add: the next opening
    (k(29, 8), 14, k(30, 15)),          # two full days
])
def test_add_working_hours(start, hours, expected):
    assert WEEK.add(start, timedelta(hours=hours)) == expected


def test_utc_in_utc_out_and_the_same_instant():
    start = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)  # 14:30 in Khartoum
    result = WEEK.add(start, timedelta(hours=2))
    assert result.astimezone(UTC) == datetime(2026, 11, 29, 7, 30, tzinfo=UTC)


def test_holidays_are_skipped():
    week = WorkWeek.build("Africa/Khartoum", ["sun", "mon", "tue", "wed", "thu"],
                          ["08:00-15:00"], holidays=["2026-11-26"])
    assert week.add(k(25, 14), timedelta(hours=7)) == k(29, 14)  # Wednesday -> Sunday
    assert not week.is_working_day(date(2026, 11, 26))


def test_caller_windows_replace_working_hours():
    evening = WEEK.with_spans(["15:00-18:00"])
    assert evening.add(k(29, 10), timedelta(hours=2)) == k(29, 17)
    assert evening.add(k(29, 10), evening.day_length) == k(29, 18)
    split = WEEK.with_spans(["08:00-12:00", "15:00-18:00"])
    assert split.add(k(29, 11), timedelta(hours=2)) == k(29, 16)
    assert split.day_length == timedelta(hours=7)
    merged = WEEK.with_spans(["08:00-12:00", "11:00-15:00"])
    assert merged.spans == WEEK.spans


def test_is_open_next_open_and_between():
    assert WEEK.is_open(k(29, 8)) and WEEK.is_open(k(26, 14, 59))
    assert not WEEK.is_open(k(26, 15)) and not WEEK.is_open(k(27, 10))
    assert WEEK.next_open(k(26, 16)) == k(29, 8)
    assert WEEK.next_open(k(29, 9)) == k(29, 9)
    assert WEEK.between(k(26, 14, 30), k(29, 9, 30)) == timedelta(hours=2)
    assert WEEK.between(k(29, 9), k(26, 14)) == timedelta()
    assert WEEK.day_length == timedelta(hours=7)


@pytest.mark.parametrize(("now", "target", "word"), [
    (k(29, 9), k(29, 14), "today"),
    (k(29, 14), k(30, 9), "tomorrow"),
    (k(26, 14, 30), k(29, 9, 30), "sun"),
    (k(28, 9), k(29, 10), "tomorrow"),   # Saturday: Sunday is tomorrow
    (k(26, 23, 30), k(29, 10), "sun"),
])
def test_day_word(now, target, word):
    assert day_word(now, target, KRT) == word


@pytest.mark.parametrize(("days", "spans", "tz", "holidays"), [
    (["funday"], ["08:00-15:00"], "Africa/Khartoum", []),
    (["sun"], ["15:00-08:00"], "Africa/Khartoum", []),
    (["sun"], ["8 to 3"], "Africa/Khartoum", []),
    (["sun"], ["08:00-15:00"], "Mars/Olympus", []),
    ([], ["08:00-15:00"], "Africa/Khartoum", []),
    (["sun"], [], "Africa/Khartoum", []),
    (["sun"], ["08:00-15:00"], "Africa/Khartoum", ["next eid"]),
])
def test_bad_schedules_are_refused(days, spans, tz, holidays):
    with pytest.raises(WorktimeError):
        WorkWeek.build(tz, days, spans, holidays)


def test_a_schedule_that_never_opens_fails_instead_of_hanging():
    week = WorkWeek.build("Africa/Khartoum", ["sun"], ["08:00-15:00"],
                          holidays=[str(date(2026, 11, 29) + timedelta(days=7 * i))
                                    for i in range(80)])
    with pytest.raises(WorktimeError):
        week.add(k(27, 10), timedelta(hours=1))


def test_naive_datetimes_are_refused():
    with pytest.raises(WorktimeError):
        WEEK.add(datetime(2026, 11, 26, 14, 30), timedelta(hours=2))
    with pytest.raises(WorktimeError):
        parse_span("08:00")


@given(start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                          timezones=st.just(UTC)),
       minutes=st.integers(min_value=0, max_value=60 * 40))
def test_adding_then_measuring_gives_back_the_amount(start, minutes):
    amount = timedelta(minutes=minutes)
    end = WEEK.add(start, amount)
    assert end >= start
    assert WEEK.between(start, end) == amount
    assert WEEK.is_working_day(end.astimezone(KRT).date())
    assert WEEK.add(start, timedelta()) == WEEK.next_open(start)
