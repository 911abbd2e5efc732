"""The worklist and the call record in the service layer, on a chosen clock: order and
states, the unreachable rule (enough tries, on enough working days), early tries that
need confirming, reopening, links between a caller's requests, Next request, the
reassignment notice, search and the caller label."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog, CallbackRequest, StaffUser
from hotline.privacy import caller_label
from hotline.services import callback_policy, caller_requests, casework, worklist
from hotline.services.callback_policy import EarlyAttempt, InvalidChoice, RequestClosed
from hotline.services.casework import CallRecord
from hotline.services.worklist import QueueFilter, get_request, list_queue

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # Sunday 08:00 in Khartoum
HOUR = timedelta(hours=1)


@pytest.fixture()
def staff(app):
    people = [StaffUser(email=f"{n}@mrrc.example", name=n.title(), password_hash="x",
                        role="supervisor" if n == "sue" else "agent")
              for n in ("amal", "bashir", "sue")]
    db.session.add_all(people)
    db.session.commit()
    return {p.email.split("@")[0]: p.id for p in people}


def submit(phone: str, reason: str = "medical", at: datetime = T0, **kw) -> int:
    kw.setdefault("safe_to_call", "yes")
    return caller_requests.submit(phone, reason=reason, sms_ok=False, language="en", now=at,
                                  **kw).request_id


def row(request_id: int) -> CallbackRequest:
    db.session.expire_all()
    return db.session.get(CallbackRequest, request_id)


def no_answer(request_id: int, who: int, at: datetime, **kw) -> casework.AttemptResult:
    casework.claim(request_id, who, now=at)
    return casework.log_attempt(request_id, who, "no_answer", now=at, **kw)


# --- order and states --------------------------------------------------------------------

def test_the_worklist_is_urgent_first_then_by_deadline_with_three_states(app, staff):
    now = T0 + 3 * HOUR  # Sunday 11:00
    late = submit("+249911000001", "medical", at=T0 - timedelta(days=3))  # deadline passed
    soon = submit("+249911000002", "info", at=T0 + HOUR)
    evening = submit("+249911000003", "medical", at=T0, safe_to_call="times",
                     safe_times="evening")  # safe window opens at 15:00
    urgent = submit("+249911000004", "danger", at=T0 + 2 * HOUR)
    retry = submit("+249911000005", "counselling", at=T0)
    no_answer(retry, staff["amal"], now - HOUR)  # retry due 30 working minutes later
    page = list_queue(QueueFilter(per_page=50), now=now)
    states = {item.id: (item.state, item.waiting_for) for item in page.items}
    assert [item.id for item in page.items][0] == urgent
    assert states[late] == ("breached", None)
    assert states[soon] == ("callable", None) and states[urgent] == ("callable", None)
    assert states[evening] == ("waiting", "window")
    assert states[retry] == ("callable", None)  # its retry (10:30) is due by 11:00
    normal = [i.id for i in page.items if i.priority == 1]
    deadlines = [i.deadline_at for i in page.items if i.priority == 1]
    assert deadlines == sorted(deadlines) and normal[0] == late

    callable_now = list_queue(QueueFilter(callable=True), now=now)
    assert evening not in {i.id for i in callable_now.items}
    assert late in {i.id for i in callable_now.items}  # late and callable: call it now
    early = list_queue(QueueFilter(callable=True), now=T0 + timedelta(minutes=20))
    assert retry not in {i.id for i in early.items}  # the retry was not due yet
    waiting = {i.id: i for i in list_queue(QueueFilter(), now=now - timedelta(minutes=40)).items}
    assert (waiting[retry].state, waiting[retry].waiting_for) == ("waiting", "retry")


def test_mine_lists_only_what_i_hold_and_callable_hides_what_others_hold(app, staff):
    first = submit("+249911000001", at=T0)
    second = submit("+249911000002", at=T0)
    casework.claim(first, staff["amal"], now=T0)
    mine = list_queue(QueueFilter(mine=staff["amal"]), now=T0 + timedelta(minutes=1))
    assert [i.id for i in mine.items] == [first]
    assert list_queue(QueueFilter(mine=staff["bashir"]), now=T0).total == 0
    theirs = list_queue(QueueFilter(callable=True, mine=None), now=T0 + timedelta(minutes=1))
    assert [i.id for i in theirs.items] == [second]
    expired = list_queue(QueueFilter(mine=staff["amal"]), now=T0 + HOUR)
    assert expired.total == 0  # a claim nobody renewed is nobody's


def test_next_candidates_are_callable_unheld_and_most_urgent_first(app, staff):
    normal = submit("+249911000001", "medical", at=T0)
    urgent = submit("+249911000002", "danger", at=T0 + HOUR)
    held = submit("+249911000003", "danger", at=T0)
    casework.claim(held, staff["bashir"], now=T0 + HOUR)
    submit("+249911000004", "danger", at=T0, safe_to_call="times", safe_times="evening")
    assert worklist.next_candidates(staff["amal"], now=T0 + HOUR) == [urgent, normal]


# --- the unreachable rule ----------------------------------------------------------------

def test_unreachable_needs_enough_tries_on_two_working_days(app, staff):
    request_id = submit("+249911000001", at=T0)
    at = T0
    for n in range(4):  # four tries on Sunday, each when its retry was due
        result = no_answer(request_id, staff["amal"], at)
        assert result.status == "open", n
        at = max(result.next_attempt_at, at)
        if at.astimezone(callback_policy.settings().week.tz).date() != date(2026, 11, 29):
            break
    monday = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    sunday_tries = row(request_id).attempts
    assert sunday_tries >= 3 and row(request_id).status == "open"
    result = no_answer(request_id, staff["amal"], max(monday, row(request_id).next_attempt_at))
    assert result.status == "unreachable"
    events = [e for e in get_request(request_id).timeline if e.kind == "unreachable"]
    assert "on 2 days" in events[0].detail


def test_all_tries_in_one_day_never_close_the_request(app, staff):
    request_id = submit("+249911000001", at=T0)
    at = T0
    for _ in range(8):
        no_answer(request_id, staff["amal"], at, confirm_early=True)
        at += timedelta(minutes=1)
    assert row(request_id).status == "open" and row(request_id).attempts == 8


def test_a_no_answer_before_the_retry_is_due_asks_and_counts_only_if_confirmed(app, staff):
    request_id = submit("+249911000001", at=T0)
    due = no_answer(request_id, staff["amal"], T0).next_attempt_at
    casework.claim(request_id, staff["amal"], now=T0 + timedelta(minutes=5))
    with pytest.raises(EarlyAttempt) as asked:
        casework.log_attempt(request_id, staff["amal"], "no_answer",
                             now=T0 + timedelta(minutes=5))
    assert asked.value.due_at == due and row(request_id).attempts == 1  # nothing written
    skipped = casework.log_attempt(request_id, staff["amal"], "no_answer", "rang twice",
                                   now=T0 + timedelta(minutes=5), confirm_early=False)
    assert skipped.attempts == 2
    details = [e.detail for e in get_request(request_id).timeline if e.kind == "attempt"]
    assert details == ["no_answer", "no_answer_early"]
    # the not-counted try did not move the backoff on: the next wait is the second step
    counted = casework._counted_tries(row(request_id))
    assert len(counted) == 1
    casework.claim(request_id, staff["amal"], now=T0 + timedelta(minutes=6))
    casework.log_attempt(request_id, staff["amal"], "busy", now=T0 + timedelta(minutes=6),
                         confirm_early=True)
    assert len(casework._counted_tries(row(request_id))) == 2


def test_unreachable_days_come_from_the_config(make_app, staff):
    other = make_app(CALLBACKS={"unreachable_days": 1, "max_attempts": 2})
    with other.app_context():
        assert callback_policy.settings().unreachable_days == 1
        people = db.session.scalars(select(StaffUser.id)).all()
        request_id = submit("+249911000009", at=T0)
        no_answer(request_id, people[0], T0)
        result = no_answer(request_id, people[0], T0 + HOUR)
        assert result.status == "unreachable"
        db.session.remove()


# --- one call record, reopen, links --------------------------------------------------------

def test_a_reached_missed_call_gets_its_reason_language_outcome_and_follow_up(app, staff):
    request_id = caller_requests.record_ring("+249911000001", now=T0).request_id
    db.session.commit()
    casework.claim(request_id, staff["amal"], now=T0)
    with pytest.raises(InvalidChoice):
        casework.record_call(request_id, staff["amal"], CallRecord("reached"), now=T0)
    with pytest.raises(InvalidChoice):
        casework.record_call(request_id, staff["amal"],
                             CallRecord("reached", outcome="helped", language="fr"), now=T0)
    assert row(request_id).attempts == 0  # refused forms write nothing
    done = casework.record_call(
        request_id, staff["amal"],
        CallRecord("reached", outcome="referred", referral="medical", reason="medical",
                   language="ar", follow_up=date(2026, 12, 3), note="one note"), now=T0)
    r = row(request_id)
    assert done.status == "resolved"
    assert (r.reason, r.language, r.outcome, r.referral, r.follow_up_on, r.attempts) == \
        ("medical", "ar", "referred", "medical", date(2026, 12, 3), 1)
    timeline = get_request(request_id).timeline
    assert [e.kind for e in timeline] == ["created", "claimed", "details", "attempt", "resolved"]
    assert [e.note for e in timeline if e.note] == ["one note"]


def test_a_wrong_number_closes_the_request_in_one_step(app, staff):
    request_id = submit("+249911000001")
    casework.claim(request_id, staff["amal"], now=T0)
    casework.record_call(request_id, staff["amal"], CallRecord("wrong_number"), now=T0)
    assert (row(request_id).status, row(request_id).outcome) == ("resolved", "wrong_number")


def test_a_supervisor_reopens_with_a_reason_and_old_tries_stop_counting(app, staff):
    request_id = submit("+249911000001", at=T0)
    r = row(request_id)
    r.status, r.outcome, r.resolved_at = "unreachable", "unreachable", T0
    db.session.commit()
    with pytest.raises(InvalidChoice):
        casework.reopen(request_id, staff["sue"], "   ", now=T0)
    casework.reopen(request_id, staff["sue"], "her sister called: try again", now=T0 + HOUR)
    r = row(request_id)
    assert (r.status, r.outcome, r.resolved_at) == ("open", None, None)
    assert r.next_attempt_at == T0 + HOUR
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "reopen_callback")).all()
    assert len(audit) == 1 and audit[0].staff_id == staff["sue"]
    assert get_request(request_id).timeline[-1].note == "her sister called: try again"
    with pytest.raises(InvalidChoice):
        casework.reopen(request_id, staff["sue"], "again", now=T0 + HOUR)


def test_a_withdrawn_request_stays_closed(app, staff):
    request_id = submit("+249911000001", at=T0)
    caller_requests.withdraw_for_phone("+249911000001", now=T0)
    with pytest.raises(RequestClosed):
        casework.reopen(request_id, staff["sue"], "try", now=T0)


def test_a_returning_callers_new_request_links_to_the_old_one_and_reopens_nothing(app, staff):
    old = submit("+249911000001", "medical", at=T0)
    casework.claim(old, staff["amal"], now=T0)
    casework.record_call(old, staff["amal"], CallRecord("reached", outcome="helped"), now=T0)
    new = submit("+249911000001", "medical", at=T0 + HOUR)
    assert new != old and row(old).status == "resolved"
    linked = [e for e in get_request(new).timeline if e.kind == "linked"]
    assert [e.detail for e in linked] == [row(old).ref]
    detail = get_request(new)
    assert [h.ref for h in detail.history] == [row(old).ref]
    assert [e.kind for e in detail.history[0].events][-1] == "resolved"
    assert detail.item.caller == get_request(old).item.caller


# --- reassignment, caller label, search ----------------------------------------------------

def test_a_reassigned_request_is_noticed_until_taken_up(app, staff):
    request_id = submit("+249911000001", at=T0)
    casework.claim(request_id, staff["amal"], now=T0)
    casework.reassign(request_id, staff["sue"], staff["bashir"], now=T0)
    assert [i.id for i in worklist.reassigned_to(staff["bashir"], now=T0)] == [request_id]
    assert worklist.reassigned_to(staff["amal"], now=T0) == ()
    casework.claim(request_id, staff["bashir"], now=T0 + timedelta(minutes=1))  # "Open"
    assert worklist.reassigned_to(staff["bashir"], now=T0 + timedelta(minutes=1)) == ()


def test_caller_labels_are_stable_and_tell_apart_callers_with_the_same_mask(app):
    one = submit("+249912300001")
    two = submit("+249912400001")  # masked alike: +249 91* *** *01
    a, b = get_request(one).item, get_request(two).item
    assert a.phone_masked == b.phone_masked and a.caller != b.caller
    assert len(a.caller) == 4 and "+249" not in a.caller
    assert caller_label(row(one).contact_id, "key") == caller_label(row(one).contact_id, "key")
    labels = {caller_label(n, "key") for n in range(1, 2001)}
    assert len(labels) > 1980  # 22**4 labels: two callers sharing mask and label are rare


def test_search_by_reference_and_by_number(app, staff):
    request_id = submit("+249911000001")
    ref = row(request_id).ref
    assert worklist.find_by_ref(ref) == request_id
    assert worklist.find_by_ref(f" {ref[:3]} {ref[3:]} ") == request_id
    for bad in ("", "abc", "1" * 40, "١٢٣٤٥٦٧", "1; drop table"):
        assert worklist.find_by_ref(bad) is None
    assert worklist.find_by_phone("+249911000001", staff["sue"]) == request_id
    assert worklist.find_by_phone("+249911999999", staff["sue"]) is None
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "search_phone")
                               .order_by(AuditLog.id)).all()
    assert [a.detail.split(": ")[1] for a in audit] == ["found", "nothing"]
    assert all("+249911000001" not in a.detail for a in audit)
