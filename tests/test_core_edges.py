"""Edges of the pure core that callers and operators meet rarely but must get right:
input bounds, naive datetimes, window labels. Written for mutants that ``make mutants``
found surviving (issue 14)."""

from datetime import UTC, datetime, timedelta, tzinfo

import pytest

from hotline.flows.engine import Engine
from hotline.flows.spec import Node
from hotline.worktime import WorktimeError, WorkWeek, day_word, hours_label

WEEK = WorkWeek.build("Africa/Khartoum", ["sun", "mon", "tue", "wed", "thu"],
                      ["08:00-15:00"])


def node(input_type: str, min_len: int = 2, max_len: int = 4) -> Node:
    return Node(id="t.ask", kind="input", source="t", input_type=input_type, min_len=min_len,
                max_len=max_len, save="answer")


@pytest.mark.parametrize(("value", "ok"), [
    ("1", False), ("12", True), ("1234", True), ("12345", False), ("12a", False),
    ("١٢٣", False),  # Arabic-Indic digits arrive normalised; raw ones are refused here
])
def test_a_digits_input_takes_min_to_max_ascii_digits(value, ok):
    assert Engine._valid_input(node("digits"), value, value) is ok


@pytest.mark.parametrize(("raw", "ok"), [
    ("a", False), ("ab", True), ("abcd", True), ("abcde", False),
    ("  a   b ", True),  # white space collapsed: "a b", three characters
    ("a\x07b", False),  # a control character is never stored
    ("    ", False),
])
def test_a_text_input_counts_its_collapsed_characters(raw, ok):
    assert Engine._valid_input(node("text"), raw, raw) is ok


def test_the_collapsed_text_is_what_is_saved():
    assert Engine._valid_input(node("text", 1, 3), "x", "  a   b ")
    assert not Engine._valid_input(node("text", 1, 2), "x", "  a   b ")


class NoOffset(tzinfo):
    """A zone that cannot say its offset: as unusable as none."""

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


@pytest.mark.parametrize("at", [datetime(2026, 11, 29, 9, 0),
                                datetime(2026, 11, 29, 9, 0, tzinfo=NoOffset())])
def test_naive_datetimes_are_refused_not_guessed(at):
    message = "working-time arithmetic needs timezone-aware datetimes"
    with pytest.raises(WorktimeError, match=f"^{message}$"):
        WEEK.next_open(at)
    with pytest.raises(WorktimeError, match=f"^{message}$"):
        day_word(at, datetime(2026, 11, 30, tzinfo=UTC), WEEK.tz)


def test_negative_working_time_is_refused():
    with pytest.raises(WorktimeError, match="^cannot add negative working time$"):
        WEEK.add(datetime(2026, 11, 29, 7, 0, tzinfo=UTC), timedelta(minutes=-1))


@pytest.mark.parametrize(("span", "label"), [
    ("15:00-18:00", "3-6"), ("08:00-12:00", "8-12"), ("00:00-01:30", "12-1:30"),
    ("12:00-15:00", "12-3"), ("11:45-13:05", "11:45-1:05"), ("13:00-23:00", "1-11"),
])
def test_window_hours_as_callers_say_them(span, label):
    assert hours_label(span) == label


def test_a_window_label_refuses_what_config_would_refuse():
    with pytest.raises(WorktimeError, match="end before they start"):
        hours_label("18:00-15:00")


@pytest.mark.parametrize(("args", "message"), [
    (("Mars/Olympus", ["sun"], ["08:00-15:00"]), "unknown time zone 'Mars/Olympus'"),
    (("Africa/Khartoum", ["sun", "funday"], ["08:00-15:00"]),
     "unknown day 'funday'; use sun, mon, tue, ..."),
    (("Africa/Khartoum", ["sun"], ["08:00-15:00"], ["2027-13-01"]),
     "holidays must be YYYY-MM-DD dates, got ['2027-13-01']"),
    (("Africa/Khartoum", [], ["08:00-15:00"]),
     "a schedule needs at least one day and one span of hours"),
    (("Africa/Khartoum", ["sun"], []), "a schedule needs at least one day and one span of hours"),
])
def test_a_schedule_that_cannot_work_says_why(args, message):
    with pytest.raises(WorktimeError) as info:
        WorkWeek.build(*args)
    assert str(info.value) == message


def test_day_names_are_read_as_people_write_them():
    week = WorkWeek.build("Africa/Khartoum", ["Sunday", " MONDAY ", "tue"], ["08:00-15:00"])
    assert week.days == {6, 0, 1}


def test_a_schedule_that_never_opens_says_so():
    sundays = frozenset(datetime(2027, 1, 3).date() + timedelta(7 * n) for n in range(60))
    closed = WorkWeek.build("Africa/Khartoum", ["sun"], ["08:00-15:00"],
                            [d.isoformat() for d in sundays])
    with pytest.raises(WorktimeError, match="^no open hours within 400 days$"):
        closed.next_open(datetime(2027, 1, 1, tzinfo=UTC))


def test_touching_spans_merge_and_given_times_are_kept():
    week = WEEK.with_spans(["08:00-12:00", "12:00-15:00"])
    assert [(s.isoformat(), e.isoformat()) for s, e in week.spans] == \
        [("08:00:00", "15:00:00")]
    spans = WEEK.with_spans([week.spans[0]]).spans
    assert spans == week.spans


def test_local_time_and_day_words_are_khartoums():
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # Thursday 01:30 in Khartoum
    assert WEEK.local(late).isoformat() == "2026-11-26T01:30:00+02:00"
    thursday_morning = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert day_word(late, thursday_morning, WEEK.tz) == "today"
    assert day_word(late, thursday_morning + timedelta(days=1), WEEK.tz) == "tomorrow"
    assert day_word(late, thursday_morning + timedelta(days=3), WEEK.tz) == "sun"


def test_open_time_between_two_moments():
    sunday_9 = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
    assert WEEK.between(sunday_9, sunday_9) == timedelta()
    assert WEEK.between(sunday_9, sunday_9 - timedelta(hours=1)) == timedelta()
    monday_8 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # the next opening, exactly
    assert WEEK.between(sunday_9, monday_8) == timedelta(hours=6)
    assert WEEK.between(sunday_9, monday_8 + timedelta(minutes=1)) == \
        timedelta(hours=6, minutes=1)


def test_keywords_keep_one_space_between_words():
    from hotline.normalize import keyword

    assert keyword("  STOP   now ") == "stop now"


@pytest.mark.parametrize(("span", "message"), [
    ("8-15", "hours must look like 08:00-15:00, got '8-15'"),
    ("08:00", "hours must look like 08:00-15:00, got '08:00'"),
    ("08:00-08:00", "hours '08:00-08:00' end before they start"),  # an empty span
])
def test_hours_that_cannot_be_read_say_why(span, message):
    with pytest.raises(WorktimeError) as info:
        WEEK.with_spans([span])
    assert str(info.value) == message


def test_a_holiday_on_the_first_or_last_day_of_a_range_is_not_a_working_day():
    # Sunday 29 November to Thursday 3 December 2026: five working days
    sunday, thursday = datetime(2026, 11, 29).date(), datetime(2026, 12, 3).date()
    assert WEEK.working_days(sunday, thursday) == 5
    for holiday in (sunday, thursday):
        week = WorkWeek.build("Africa/Khartoum", ["sun", "mon", "tue", "wed", "thu"],
                              ["08:00-15:00"], [holiday.isoformat()])
        assert week.working_days(sunday, thursday) == 4


def test_a_call_due_after_khartoums_midnight_is_tomorrow_even_when_utc_says_today():
    thursday_noon = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    just_after_midnight = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # Friday 00:30 local
    assert day_word(thursday_noon, just_after_midnight, WEEK.tz) == "tomorrow"
