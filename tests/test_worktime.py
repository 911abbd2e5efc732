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


def between_day_by_day(week: WorkWeek, start: datetime, end: datetime) -> timedelta:
    """The implementation ``between`` replaced, kept as the reference: every open interval
    from ``start`` summed one day at a time (raises past ``MAX_SCAN_DAYS``)."""
    total = timedelta()
    end = week.local(end)
    if end <= week.local(start):
        return total
    for opens, closes in week.intervals(start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


ZONES = st.sampled_from(["Africa/Khartoum", "Europe/London", "America/New_York", "UTC"])
MOMENTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31))


@st.composite
def schedules(draw) -> WorkWeek:
    days = draw(st.sets(st.sampled_from(["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
                        min_size=1))
    hours = draw(st.lists(st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(
        lambda span: span[0] < span[1]), min_size=1, max_size=3))
    spans = [f"{a:02d}:00-{b:02d}:00" if b < 24 else f"{a:02d}:00-23:59:59" for a, b in hours]
    holidays = draw(st.lists(st.dates(date(2025, 1, 1), date(2027, 12, 31)), max_size=20))
    return WorkWeek.build(draw(ZONES), days, spans, [d.isoformat() for d in holidays])


@given(schedules(), MOMENTS, st.timedeltas(min_value=timedelta(days=-3),
                                           max_value=timedelta(days=390)),
       st.sampled_from([KRT, UTC, ZoneInfo("Europe/London")]))
def test_between_agrees_with_walking_day_by_day(week, start, length, zone):
    start = start.replace(tzinfo=zone)
    end = start + length
    try:
        expected = between_day_by_day(week, start, end)
    except WorktimeError:  # the old walk gave up past MAX_SCAN_DAYS: nothing to compare
        return
    assert week.between(start, end) == expected


def test_between_counts_years_of_whole_weeks_without_giving_up():
    start = k(29, 8)  # a Sunday at opening; the walk day by day gave up after 400 days
    assert WEEK.between(start, start + timedelta(weeks=104)) == 104 * 5 * timedelta(hours=7)
    closed = WorkWeek.build("Africa/Khartoum", ["sun", "mon", "tue", "wed", "thu"],
                            ["08:00-15:00"], ["2027-01-03", "2027-01-08"])  # a Sunday, a Friday
    assert closed.between(start, start + timedelta(weeks=104)) == \
        (104 * 5 - 1) * timedelta(hours=7)
