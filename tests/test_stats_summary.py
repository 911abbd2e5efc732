"""The statistics' per-day summary gives exactly the live figures (issue 13, "Also").

A varied history (every status, reason, language and channel, unknown codes, waits on
both sides of every bucket, requests at Africa/Khartoum's midnight) is counted by the
sweeper's ``refresh``; then every filter the page offers, over every period and periods
starting on and around a local midnight, must give the same ``Stats`` and ``Trends`` as
the live computation, also after rows of counted days change (reopened, edited, a late
attempt) and before the next refresh counts them again.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from hotline.extensions import db
from hotline.models import CallbackEvent, CallbackRequest, Contact, StaffUser
from hotline.services import casework, statsdays
from hotline.services.stats import matching, one_snapshot, statistics, trends
from hotline.sweeper import sweep
from tests.staffkit import make_user, quick_hashing

TZ = "Africa/Khartoum"
R = CallbackRequest
REASONS = ("danger", "medical", "info", "unknown")
CHANNELS = ("ussd", "missed_call", "sms")
LANGUAGES = ("ar", "en", None)
FILTERS = [(None, None, None), ("medical", None, None), (None, "ar", None),
           (None, None, "missed_call"), ("info", "en", "ussd"), ("unknown", None, "missed_call"),
           ("danger", "ar", None), (None, "en", "sms"), ("nothing", None, None)]


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)
    # day rows kept for about three weeks only, so the 75 days of history also have
    # months kept only as months (as a year's history has with the default)
    monkeypatch.setattr(statsdays, "KEEP_DAYS", 20)


def local_midnight(days_ago: int, now: datetime) -> datetime:
    """Midnight in Khartoum (UTC+2) ``days_ago`` days before today, in UTC."""
    local = (now + timedelta(hours=2)).date() - timedelta(days=days_ago)
    return datetime(local.year, local.month, local.day, tzinfo=UTC) - timedelta(hours=2)


def history(now: datetime, staff: list[int], seed: int = 7, n: int = 700) -> None:
    """Requests over the last 75 days and today (so at least one whole calendar month is
    read from the months' table), with their timeline events."""
    rng = random.Random(seed)
    contacts = [Contact(phone=f"+2499120{i:05d}", language="ar") for i in range(40)]
    db.session.add_all(contacts)
    db.session.flush()
    times = [now - timedelta(days=75) * rng.random() for _ in range(n)]
    for days_ago in range(1, 6):  # on, just before and just after a local midnight
        edge = local_midnight(days_ago, now)
        times += [edge, edge - timedelta(microseconds=1), edge + timedelta(microseconds=1)]
    for i, created in enumerate(times):
        status = rng.choice(("open", "resolved", "resolved", "unreachable", "withdrawn"))
        deadline = created + timedelta(hours=rng.choice((2, 24, 48)))
        tried = rng.random() < 0.8 and status != "withdrawn"
        first = deadline + timedelta(hours=rng.choice((-30, -1, 0, 0.5, 1, 2, 5, 30))) \
            + timedelta(seconds=rng.randint(0, 5000), microseconds=rng.randint(0, 999_999)) \
            if tried else None
        if first is not None and first < created:
            first = created + timedelta(seconds=rng.choice((0, 59, 60, 61, 66, 3600)))
        outcome = rng.choice(("helped", "referred", "duplicate", "legacy_code", None)) \
            if status == "resolved" else ("unreachable" if status == "unreachable" else None)
        row = R(ref=f"{i + 1000000}", contact_id=rng.choice(contacts).id,
                channel=rng.choice(CHANNELS), reason=rng.choice(REASONS),
                language=rng.choice(LANGUAGES), status=status,
                priority=rng.choice((0, 1)), deadline_at=deadline, created_at=created,
                updated_at=created, first_attempt_at=first,
                attempts=rng.randint(1, 7) if tried else 0, outcome=outcome,
                referral=rng.choice(("medical", "none", "old_referral")) if outcome else None,
                resolved_at=first if status != "open" else None)
        db.session.add(row)
        db.session.flush()
        if first is not None:
            db.session.add(CallbackEvent(request_id=row.id, at=first, kind="attempt",
                                         staff_id=rng.choice(staff), detail="reached"))
        if status == "resolved":
            db.session.add(CallbackEvent(request_id=row.id, at=(first or created)
                                         + timedelta(minutes=rng.randint(1, 3000)),
                                         kind="resolved", staff_id=rng.choice(staff)))
    db.session.commit()


def periods(now: datetime) -> list[datetime | None]:
    edge = local_midnight(4, now)
    return [None, now - timedelta(days=30), now - timedelta(days=7), edge,
            edge - timedelta(microseconds=1), edge + timedelta(microseconds=1),
            now - timedelta(hours=3)]


def assert_same(now: datetime) -> None:
    """Summary and live agree for every filter and period (and the summary is used)."""
    for reason, language, channel in FILTERS:
        fast_where = matching(reason, language, channel)
        for since in periods(now):
            said = f"filters {reason, language, channel}, since {since}"
            assert statistics(now=now, since=since, where=fast_where) == \
                statistics(now=now, since=since, where=fast_where, live=True), said
            assert trends(TZ, now=now, since=since, where=fast_where) == \
                trends(TZ, now=now, since=since, where=fast_where, live=True), said
        # as the page reads them: both through one shared snapshot
        for since in (None, now - timedelta(days=30)):
            with one_snapshot():
                shared = (statistics(now=now, since=since, where=fast_where),
                          trends(TZ, now=now, since=since, where=fast_where))
            assert shared == (statistics(now=now, since=since, where=fast_where, live=True),
                              trends(TZ, now=now, since=since, where=fast_where, live=True))
        # all time, the open work is counted in the period's pass; with a period, in a
        # pass of its own: both must agree (open work does not depend on the period)
        every, recent = (statistics(now=now, since=since, where=fast_where)
                         for since in (None, now - timedelta(days=30)))
        for name in ("open_total", "open_urgent", "open_by_reason", "open_by_language",
                     "open_breached"):
            assert getattr(every, name) == getattr(recent, name), (name, reason, language)


def covered() -> tuple:
    return db.session.execute(text("SELECT covered_from, covered_until FROM stats_state")).one()


@pytest.fixture()
def counted(app):
    staff = [make_user("amal@example.org", "supervisor", "Amal").id,
             make_user("badr@example.org").id, make_user("carol@example.org").id]
    db.session.execute(update(StaffUser).where(StaffUser.id == staff[2]).values(name=""))
    db.session.commit()
    now = datetime.now(UTC)
    history(now, staff)
    line = statsdays.refresh(TZ)
    assert "day(s) counted" in line
    first, until = covered()
    assert until == (now - timedelta(hours=1) + timedelta(hours=2)).date()
    assert first <= (now - timedelta(days=74) + timedelta(hours=2)).date()
    assert db.session.scalar(text("SELECT count(DISTINCT day) FROM stats_months")) >= 3
    assert db.session.scalar(text("SELECT min(day) FROM stats_days")) == \
        statsdays.keep_from(until)  # older days are kept as months only
    return now, staff


def test_summary_and_live_agree_for_every_filter_and_period(counted):
    now, _staff = counted
    assert db.session.scalar(text("SELECT count(*) FROM stats_days")) > 100
    assert_same(now)
    numbers = statistics(now=now, where=matching())
    assert numbers.median_to_first_attempt is not None and numbers.outcomes["legacy_code"]
    assert set(numbers.by_status) == {"open", "resolved", "unreachable", "withdrawn"}


def test_the_summary_is_what_the_page_reads(counted):
    """Change the stored counts (not the rows): the figures change, so they come from it."""
    now, _staff = counted
    before = statistics(now=now, where=matching())
    db.session.execute(text("UPDATE stats_days SET n = n + 1 WHERE measure = 'status' "
                            "AND code = 'resolved'"))
    db.session.execute(text("UPDATE stats_agent_days SET attempts = attempts + 1"))
    db.session.commit()
    after = statistics(now=now, where=matching())
    assert after.by_status["resolved"] > before.by_status["resolved"]
    assert trends(TZ, now=now, where=matching()).agents != \
        trends(TZ, now=now, where=matching(), live=True).agents


def test_reopened_edited_and_late_rows_of_counted_days_stay_exact(counted):
    now, staff = counted
    old = now - timedelta(days=40)  # in a month kept only as a month
    resolved = db.session.scalars(select(R).where(R.status == "resolved", R.created_at < old)
                                  .order_by(R.created_at.desc()).limit(3)).all()
    recent = db.session.scalars(select(R).where(R.status == "unreachable",
                                                R.created_at < now - timedelta(days=3))
                                .order_by(R.created_at.desc()).limit(1)).one()
    recent.outcome = "helped"  # a day that has rows of its own
    casework.reopen(resolved[0].id, staff[0], "the caller rang back", now=now)
    edited = resolved[1]
    edited.reason, edited.language, edited.channel = "danger", "en", "sms"
    edited.first_attempt_at = edited.created_at + timedelta(seconds=61)
    db.session.add(CallbackEvent(request_id=resolved[2].id, at=old, kind="attempt",
                                 staff_id=staff[1], detail="no_answer"))
    db.session.commit()
    dirty = db.session.scalar(text("SELECT count(DISTINCT what) FROM stats_dirty"))
    assert dirty == 2  # request days and event days
    with db.engine.connect() as conn:
        part = statsdays.split(conn, TZ, None, "r")
    assert part is not None and part.blocked and part.dirty  # an old month, a recent day
    assert_same(now)  # the changed days are read live until counted again

    assert "counted again" in " ".join(sweep())  # the sweeper's refresh
    assert db.session.scalar(text("SELECT count(*) FROM stats_dirty")) == 0
    assert_same(now)
    reopened = statistics(now=now, where=matching())
    assert reopened == statistics(now=now, where=matching(), live=True)


def test_a_filter_the_summary_cannot_serve_is_computed_live(counted):
    now, _staff = counted
    urgent = statistics(now=now, where=[R.priority == 0])
    rows = db.session.execute(select(R.status, R.priority)).all()
    expected: dict[str, int] = {}
    for status, priority in rows:
        if priority == 0:
            expected[status] = expected.get(status, 0) + 1
    assert urgent.by_status == expected
    assert trends("UTC", now=now, where=matching()) == \
        trends("UTC", now=now, where=matching(), live=True)  # not the summary's zone


def test_another_time_zone_or_layout_starts_the_count_again(counted):
    now, _staff = counted
    statsdays.refresh("UTC")  # the configured zone changed: every count is redone in UTC
    assert statsdays.split(db.session.connection(), TZ, None, "r") is None
    assert statistics(now=now, where=matching()) == \
        statistics(now=now, where=matching(), live=True)
    statsdays.refresh(TZ)
    assert_same(now)


def test_truncating_the_requests_forgets_the_counts(counted):
    now, _staff = counted
    db.session.execute(text("TRUNCATE callback_events, reveal_approvals, voice_calls, "
                            "outbox_messages, inbound_sms, callback_requests CASCADE"))
    db.session.commit()
    assert db.session.scalar(text("SELECT count(*) FROM stats_days")) == 0
    assert statistics(now=now, where=matching()).by_status == {}
