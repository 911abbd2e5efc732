"""Staff work on callback requests: claim, reveal, attempts, resolve, reassign, sweep."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from hotline import create_app, sweeper
from hotline.config import load_settings
from hotline.errors import ConfigError
from hotline.extensions import db
from hotline.models import AuditLog, CallbackEvent, CallbackRequest, StaffUser
from hotline.services import callback_policy, caller_requests, casework
from hotline.services.callback_policy import (
    ClaimConflict,
    InvalidChoice,
    NotHolder,
    RequestClosed,
    RequestNotFound,
    UnknownStaff,
)
from hotline.services.worklist import get_request
from tests.conftest import PHONE, dispose, overrides

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # Sunday 08:00 in Khartoum


@pytest.fixture()
def staff(app):
    people = [StaffUser(email=f"{n}@mrrc.example", name=n.title(), password_hash="x")
              for n in ("amal", "bashir", "chol")]
    people.append(StaffUser(email="gone@mrrc.example", name="Gone", password_hash="x",
                            active=False))
    db.session.add_all(people)
    db.session.commit()
    return {p.email.split("@")[0]: p.id for p in people}


@pytest.fixture()
def request_id(app) -> int:
    return caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False,
                                  language="en", now=T0).request_id


def kinds(request_id: int) -> list[str]:
    return [e.kind for e in get_request(request_id).timeline]


def row(request_id: int) -> CallbackRequest:
    db.session.expire_all()
    return db.session.get(CallbackRequest, request_id)


def test_claim_is_exclusive_and_names_the_holder(staff, request_id):
    won = casework.claim(request_id, staff["amal"], now=T0)
    assert won.expires_at == T0 + timedelta(minutes=15) and not won.renewed
    with pytest.raises(ClaimConflict) as lost:
        casework.claim(request_id, staff["bashir"], now=T0 + timedelta(minutes=1))
    assert lost.value.holder == "Amal" and "Amal" in str(lost.value)
    again = casework.claim(request_id, staff["amal"], now=T0 + timedelta(minutes=5))
    assert again.renewed and again.expires_at == T0 + timedelta(minutes=20)
    assert kinds(request_id) == ["created", "claimed"]


def test_an_expired_claim_can_be_taken_over(staff, request_id):
    casework.claim(request_id, staff["amal"], now=T0)
    taken = casework.claim(request_id, staff["bashir"], now=T0 + timedelta(minutes=16))
    assert taken.staff_id == staff["bashir"]
    assert row(request_id).claimed_by_id == staff["bashir"]


def test_claim_race_exactly_one_wins(migrated, staff, request_id):
    """Two staff press "claim" at the same instant, each in its own app and connection."""
    apps = [create_app(overrides()) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def attempt(i: int, staff_id: int) -> None:
        with apps[i].app_context():
            db.session.execute(select(1))  # connect before the barrier
            barrier.wait()
            try:
                results[i] = casework.claim(request_id, staff_id, now=T0)
            except ClaimConflict as exc:
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i, sid))
               for i, sid in enumerate((staff["amal"], staff["bashir"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for a in apps:
        dispose(a)
    winners = [r for r in results if isinstance(r, casework.ClaimResult)]
    losers = [r for r in results if isinstance(r, ClaimConflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert row(request_id).claimed_by_id == winners[0].staff_id
    assert losers[0].holder == ("Amal" if winners[0].staff_id == staff["amal"] else "Bashir")
    assert kinds(request_id).count("claimed") == 1


def test_claim_errors(staff, request_id):
    with pytest.raises(RequestNotFound):
        casework.claim(999_999, staff["amal"], now=T0)
    with pytest.raises(RequestNotFound):
        casework.claim("1; DROP TABLE x", staff["amal"], now=T0)  # type: ignore[arg-type]
    with pytest.raises(UnknownStaff):
        casework.claim(request_id, staff["gone"], now=T0)
    with pytest.raises(UnknownStaff):
        casework.claim(request_id, 424242, now=T0)
    casework.claim(request_id, staff["amal"], now=T0)
    casework.resolve(request_id, staff["amal"], "helped", "protection", now=T0)
    with pytest.raises(RequestClosed):
        casework.claim(request_id, staff["amal"], now=T0)


def test_release(staff, request_id):
    casework.claim(request_id, staff["amal"], now=T0)
    with pytest.raises(NotHolder):
        casework.release(request_id, staff["bashir"], now=T0)
    casework.release(request_id, staff["amal"], now=T0)
    assert row(request_id).claimed_by_id is None
    casework.release(request_id, staff["bashir"], now=T0)  # nobody holds it: nothing to do
    assert kinds(request_id) == ["created", "claimed", "released"]


def test_only_the_holder_sees_the_number_and_every_reveal_is_audited(staff, request_id):
    with pytest.raises(NotHolder):
        casework.reveal_phone(request_id, staff["amal"], now=T0)
    casework.claim(request_id, staff["amal"], now=T0)
    with pytest.raises(NotHolder):
        casework.reveal_phone(request_id, staff["bashir"], now=T0)
    assert casework.reveal_phone(request_id, staff["amal"], now=T0) == PHONE
    assert casework.reveal_phone(request_id, staff["amal"], now=T0) == PHONE
    audits = db.session.scalars(select(AuditLog).where(AuditLog.action == "reveal_phone")).all()
    assert [(a.staff_id, a.target) for a in audits] == \
        [(staff["amal"], f"callback_request:{request_id}")] * 2
    assert kinds(request_id).count("phone_revealed") == 2
    with pytest.raises(NotHolder):  # the claim ran out
        casework.reveal_phone(request_id, staff["amal"], now=T0 + timedelta(minutes=16))
    assert PHONE in repr(get_request(request_id, staff["amal"], now=T0))  # revealed, held
    assert PHONE not in repr(get_request(request_id, staff["bashir"], now=T0))
    assert PHONE not in repr(get_request(request_id, staff["amal"], now=T0 + timedelta(minutes=16)))


def test_no_answer_backs_off_then_unreachable(staff, request_id):
    now = T0
    expected_waits = [timedelta(minutes=30), timedelta(minutes=120), timedelta(minutes=420)]
    for n in range(1, 4):
        casework.claim(request_id, staff["amal"], now=now)
        result = casework.log_attempt(request_id, staff["amal"], "no_answer", f"try {n}",
                                      now=now)
        assert result.status == "open" and not result.claim_kept and result.attempts == n
        assert row(request_id).claimed_by_id is None
        wait = expected_waits[n - 1]
        # working minutes: 420 minutes from Sunday 08:xx land on Monday
        assert callback_policy.settings().week.between(now, result.next_attempt_at) == wait
        now = result.next_attempt_at
    casework.claim(request_id, staff["bashir"], now=now)
    last = casework.log_attempt(request_id, staff["bashir"], "busy", "", now=now)
    assert last.status == "unreachable" and last.next_attempt_at is None
    r = row(request_id)
    assert (r.status, r.outcome, r.attempts, r.first_attempt_at) == ("unreachable", "unreachable",
                                                                    4, T0)
    assert kinds(request_id)[-2:] == ["attempt", "unreachable"]
    with pytest.raises(RequestClosed):
        casework.claim(request_id, staff["amal"], now=now)


def test_not_safe_reschedules_without_counting_toward_unreachable(app, staff, request_id):
    for _ in range(5):
        casework.claim(request_id, staff["amal"], now=T0)
        result = casework.log_attempt(request_id, staff["amal"], "not_safe",
                                      "a man answered", now=T0)
        assert result.status == "open" and result.next_attempt_at > T0


def test_reached_keeps_the_claim_then_resolve(staff, request_id):
    casework.claim(request_id, staff["amal"], now=T0)
    result = casework.log_attempt(request_id, staff["amal"], "reached", "talked 10 min",
                                  now=T0 + timedelta(minutes=10))
    assert result.claim_kept and result.next_attempt_at is None
    assert row(request_id).claim_expires_at == T0 + timedelta(minutes=25)
    with pytest.raises(NotHolder):
        casework.resolve(request_id, staff["bashir"], "helped", "medical", now=T0)
    casework.resolve(request_id, staff["amal"], "referred", "avrr", "wants to go home",
                     now=T0 + timedelta(minutes=12))
    r = row(request_id)
    assert (r.status, r.outcome, r.referral, r.claimed_by_id) == \
        ("resolved", "referred", "avrr", None)
    detail = get_request(request_id, staff["amal"], now=T0 + timedelta(minutes=13))
    assert [e.kind for e in detail.timeline] == ["created", "claimed", "attempt", "resolved"]
    attempt, resolved = detail.timeline[2], detail.timeline[3]
    assert (attempt.staff, attempt.detail, attempt.note) == ("Amal", "reached", "talked 10 min")
    assert resolved.note == "wants to go home" and "avrr" in resolved.detail
    with pytest.raises(RequestClosed):
        casework.log_attempt(request_id, staff["amal"], "reached", now=T0)


@pytest.mark.parametrize(("call", "args"), [
    (casework.log_attempt, ("hung_up", "")),
    (casework.log_attempt, ("reached", "x" * 2001)),
    (casework.resolve, ("made_up", "none")),
    (casework.resolve, ("helped", "police")),
    (casework.resolve, ("=cmd|' /C calc'!A0", "none")),
])
def test_values_outside_the_vocabulary_are_refused(staff, request_id, call, args):
    casework.claim(request_id, staff["amal"], now=T0)
    with pytest.raises(InvalidChoice):
        call(request_id, staff["amal"], *args, now=T0)
    assert row(request_id).status == "open" and row(request_id).attempts == 0


def test_notes_are_stored_as_written(staff, request_id):
    note = "<script>alert('x')</script> ; DROP TABLE callback_events; -- مرحبا"
    casework.claim(request_id, staff["amal"], now=T0)
    casework.log_attempt(request_id, staff["amal"], "wrong_number", note, now=T0)
    assert get_request(request_id).timeline[-1].note == note


def test_reassign(staff, request_id):
    casework.claim(request_id, staff["amal"], now=T0)
    moved = casework.reassign(request_id, staff["chol"], staff["bashir"], now=T0)
    assert moved.staff_id == staff["bashir"]
    assert row(request_id).claimed_by_id == staff["bashir"]
    assert casework.reveal_phone(request_id, staff["bashir"], now=T0) == PHONE
    with pytest.raises(NotHolder):
        casework.reveal_phone(request_id, staff["amal"], now=T0)
    with pytest.raises(UnknownStaff):
        casework.reassign(request_id, staff["chol"], staff["gone"], now=T0)
    with pytest.raises(UnknownStaff):
        casework.reassign(request_id, staff["chol"], 777, now=T0)
    event = get_request(request_id).timeline[-2]
    assert (event.kind, event.staff, event.detail) == ("reassigned", "Chol", "to Bashir")
    assert db.session.scalar(select(func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "reassign_callback")) == 1


def test_sweep_releases_expired_claims(staff, request_id):
    casework.claim(request_id, staff["amal"], now=T0)
    assert casework.expire_claims(now=T0 + timedelta(minutes=10)).startswith("callbacks: 0")
    assert casework.expire_claims(now=T0 + timedelta(minutes=16)).startswith("callbacks: 1")
    assert row(request_id).claimed_by_id is None
    assert kinds(request_id)[-1] == "claim_expired"
    assert get_request(request_id).timeline[-1].staff == "Amal"


def test_sweep_is_registered(app, staff, request_id):
    casework.claim(request_id, staff["amal"], now=datetime.now(UTC) - timedelta(hours=1))
    assert any(line.startswith("callbacks: 1 expired") for line in sweeper.sweep())


def test_withdraw_closes_open_requests_silently(app, request_id):
    caller_requests.submit(PHONE, reason="medical", safe_to_call="yes", sms_ok=True, now=T0)
    assert caller_requests.withdraw_for_phone(PHONE, now=T0) == 2
    statuses = db.session.scalars(select(CallbackRequest.status)).all()
    assert statuses == ["withdrawn", "withdrawn"]
    assert db.session.scalars(select(CallbackRequest.sms_confirmation)).all() == [None, None]
    assert caller_requests.withdraw_for_phone("+249911111111", now=T0) == 0


def test_submit_refuses_values_outside_the_vocabulary(app):
    for kwargs in ({"reason": "unknown", "safe_to_call": "yes"},
                   {"reason": "danger", "safe_to_call": "no"},
                   {"reason": "danger", "safe_to_call": "times", "safe_times": "midnight"},
                   {"reason": "x", "safe_to_call": "yes"}):
        with pytest.raises(InvalidChoice):
            caller_requests.submit(PHONE, **kwargs)
    assert db.session.scalar(select(func.count()).select_from(CallbackRequest)) == 0


def test_references_are_unique_and_readable(app):
    refs = {caller_requests.new_ref() for _ in range(200)}
    assert all(len(r) == 7 and set(r) <= set(callback_policy.REF_ALPHABET) for r in refs)
    assert not set("".join(refs)) & set("01OIl")


def test_deadlines_from_settings(app):
    urgent = caller_requests.submit(PHONE, reason="danger", safe_to_call="yes",
                                    now=datetime(2026, 11, 26, 12, 30, tzinfo=UTC))  # Thu 14:30
    normal = caller_requests.submit(PHONE, reason="info", safe_to_call="yes",
                                    now=datetime(2026, 11, 26, 12, 30, tzinfo=UTC))
    assert (urgent.expect_day, urgent.expect_until) == ("sun", "09:30")
    assert (normal.expect_day, normal.expect_until) == ("sun", "14:30")
    assert row(urgent.request_id).priority == 0 and row(normal.request_id).priority == 1


def test_a_late_request_promises_the_urgent_delay_from_now(app):
    first = caller_requests.submit(PHONE, reason="info", safe_to_call="yes", now=T0)
    db.session.execute(update(CallbackRequest).values(created_at=T0 - timedelta(days=3)))
    db.session.commit()
    again = caller_requests.submit(PHONE, reason="info", safe_to_call="yes",
                                   now=T0 + timedelta(hours=3))  # Sunday 11:00, already late
    assert again.request_id == first.request_id
    assert (again.expect_day, again.expect_until) == ("today", "13:00")


@pytest.mark.parametrize("bad", [
    {"work_days": ["funday"]}, {"work_hours": "15:00-08:00"}, {"urgent_hours": -1},
    {"claim_minutes": "soon"}, {"retry_minutes": []}, {"retry_minutes": [0]},
    {"urgent_reasons": ["panic"]}, {"windows": {"night": "25:00-26:00"}},
    {"max_attempts": True},
])
def test_bad_settings_are_reported(bad):
    settings = {"TIMEZONE": "Africa/Khartoum",
                "CALLBACKS": {**overrides_callbacks(), **bad}}
    with pytest.raises(ConfigError) as exc:
        callback_policy.parse_settings(settings)
    assert "[callbacks]" in str(exc.value)


def overrides_callbacks() -> dict:
    from hotline.config import load_settings

    return dict(load_settings()["CALLBACKS"])


def test_default_settings_parse():
    from hotline.config import load_settings

    parsed = callback_policy.parse_settings(load_settings())
    assert parsed.urgent_hours == timedelta(hours=2) and parsed.max_attempts == 4
    assert set(parsed.windows) == {"morning", "afternoon", "evening"}


def test_events_count_matches_actions(staff, request_id):
    casework.claim(request_id, staff["amal"], now=T0)
    casework.log_attempt(request_id, staff["amal"], "busy", now=T0)
    n = db.session.scalar(select(func.count()).select_from(CallbackEvent)
                          .where(CallbackEvent.request_id == request_id))
    assert n == 4  # created, claimed, attempt, rescheduled


def test_the_deadline_counts_normal_days_in_working_days():
    """``normal_days = 2``: a request made on Sunday at 10:00 in Khartoum is due on
    Tuesday at 10:00; an urgent one two working hours later, at 12:00."""
    config = load_settings()
    config["CALLBACKS"] = {**config["CALLBACKS"], "normal_days": 2}
    parsed = callback_policy.parse_settings(config)
    sunday = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert parsed.deadline(sunday, callback_policy.NORMAL, parsed.week) == \
        datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert parsed.deadline(sunday, callback_policy.URGENT, parsed.week) == \
        datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def test_a_request_asked_again_is_dated_only_when_its_answers_changed(request_id):
    """A replayed session leaves the request as it was; new answers (here: only in the
    evening) move its time of change, which staff read as when it last changed."""
    later = T0 + timedelta(hours=2)
    caller_requests.submit(PHONE, reason="danger", safe_to_call="yes", sms_ok=False,
                           language="en", now=later)
    assert row(request_id).updated_at == T0 and "updated" not in kinds(request_id)
    caller_requests.submit(PHONE, reason="danger", safe_to_call="times", safe_times="evening",
                           sms_ok=False, language="en", now=later)
    changed = row(request_id)
    assert (changed.safe_times, changed.updated_at) == ("evening", later)
    assert kinds(request_id).count("updated") == 1
