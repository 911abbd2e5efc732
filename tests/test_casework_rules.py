"""Staff work on a callback request, line by line as the timeline and the audit log show it:
who claimed, released, reassigned, revealed, tried, resolved or reopened a request, when,
and what the request looks like afterwards (issue 14: each rule here is one a mutant of
``casework`` broke without a test noticing)."""

import threading
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from hotline import create_app
from hotline.extensions import db
from hotline.models import CallbackRequest, RevealApproval, StaffUser
from hotline.services import caller_requests, casework
from hotline.services.callback_policy import clock
from hotline.services.casework import AttemptResult, CallRecord, ClaimResult, UrgentWaiting
from hotline.services.reveals import RevealLimit
from tests.casework_kit import (
    OTHER_PHONE,
    PHONE,
    T0,
    audit,
    claim_state,
    events,
    ref_of,
    row,
    staff_fixture,  # noqa: F401  (the staff fixture)
    submit,
)
from tests.conftest import dispose, overrides

M = timedelta(minutes=1)


# --- claim -----------------------------------------------------------------------------------

def test_a_claim_is_recorded_once_with_who_and_when(staff):
    other = submit(OTHER_PHONE, reason="medical")
    rid = submit()
    ref = ref_of(rid)
    won = casework.claim(rid, staff["amal"], now=T0 + M)
    assert won == ClaimResult(rid, ref, staff["amal"], T0 + 16 * M, False)
    assert claim_state(rid) == (staff["amal"], T0 + 16 * M)
    assert claim_state(other) == (None, None)  # only the request asked for
    assert events(rid, 1) == [("claimed", T0 + M, staff["amal"], "", "")]
    assert audit("claim_callback") == [(T0 + M, staff["amal"], f"callback_request:{rid}",
                                        f"ref {ref}")]
    # renewing a live claim moves its end, and writes nothing new
    again = casework.claim(rid, staff["amal"], now=T0 + 10 * M)
    assert again == ClaimResult(rid, ref, staff["amal"], T0 + 25 * M, True)
    assert claim_state(rid) == (staff["amal"], T0 + 25 * M)
    assert len(events(rid)) == 2 and len(audit("claim_callback")) == 1


def test_claiming_again_after_ones_own_claim_lapsed_is_a_new_claim(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    back = casework.claim(rid, staff["amal"], now=T0 + 20 * M)
    assert not back.renewed and back.expires_at == T0 + 35 * M
    assert [e[:3] for e in events(rid, 1)] == [("claimed", T0, staff["amal"]),
                                               ("claimed", T0 + 20 * M, staff["amal"])]
    assert [a[:2] for a in audit("claim_callback")] == [(T0, staff["amal"]),
                                                       (T0 + 20 * M, staff["amal"])]


def test_a_claim_taken_again_the_moment_it_lapses_is_a_new_claim(staff):
    """At its end a claim is over (the holder may no longer act on it): claiming then is a
    new claim, written down, not a renewal."""
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    again = casework.claim(rid, staff["amal"], now=T0 + 15 * M)
    assert not again.renewed
    assert [e[:2] for e in events(rid, 1)] == [("claimed", T0), ("claimed", T0 + 15 * M)]


def test_taking_over_a_lapsed_claim_is_written_down_for_the_new_holder(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    taken = casework.claim(rid, staff["bashir"], now=T0 + 16 * M)
    assert taken == ClaimResult(rid, ref_of(rid), staff["bashir"], T0 + 31 * M, False)
    assert claim_state(rid) == (staff["bashir"], T0 + 31 * M)
    assert events(rid, 2) == [("claimed", T0 + 16 * M, staff["bashir"], "", "")]


def test_a_claim_renewed_while_holding_the_maximum_is_not_refused(staff):
    """The request being renewed is not one of the "others" the limit counts."""
    ids = [submit(f"+2499100000{i:02d}", reason="medical") for i in range(5)]
    for rid in ids:
        casework.claim(rid, staff["amal"], now=T0)
    assert casework.claim(ids[0], staff["amal"], now=T0 + M).renewed


def test_a_reassigned_holder_accepts_by_claiming_once(staff):
    rid = submit()
    elsewhere = submit(OTHER_PHONE, reason="medical")
    casework.claim(rid, staff["bashir"], now=T0)  # a claim before the reassignment
    casework.reassign(rid, staff["sue"], staff["amal"], now=T0 + M)
    casework.reassign(elsewhere, staff["sue"], staff["bashir"], now=T0 + M)
    assert casework.reassigned_to_holder(rid) and casework.reassigned_to_holder(elsewhere)
    accepted = casework.claim(rid, staff["amal"], now=T0 + 2 * M)
    assert accepted.renewed and accepted.expires_at == T0 + 17 * M
    assert not casework.reassigned_to_holder(rid)
    assert casework.reassigned_to_holder(elsewhere)  # another request's notice stays
    casework.claim(rid, staff["amal"], now=T0 + 3 * M)  # a later renewal accepts nothing
    assert events(rid, 1) == [
        ("claimed", T0, staff["bashir"], "", ""),
        ("reassigned", T0 + M, staff["sue"], "to Amal", ""),
        ("claimed", T0 + 2 * M, staff["amal"], "accepted", "")]
    assert [a[1] for a in audit("claim_callback")] == [staff["bashir"]]


def test_renewing_a_claim_nobody_reassigned_accepts_nothing(staff):
    rid = submit()
    other = submit(OTHER_PHONE, reason="medical")
    casework.reassign(other, staff["sue"], staff["bashir"], now=T0)
    casework.claim(rid, staff["amal"], now=T0 + M)
    assert not casework.reassigned_to_holder(rid)
    casework.claim(rid, staff["amal"], now=T0 + 2 * M)
    assert [e[3] for e in events(rid, 1)] == [""]


def test_a_ring_while_the_request_waits_for_its_new_holder_keeps_the_notice(staff):
    """The caller rings again before the new holder takes the request up: the notice stays
    until that holder claims it."""
    rid = submit()
    casework.reassign(rid, staff["sue"], staff["amal"], now=T0)
    caller_requests.record_ring(PHONE, now=T0 + M)
    db.session.commit()
    assert casework.reassigned_to_holder(rid)
    casework.claim(rid, staff["amal"], now=T0 + 2 * M)
    assert events(rid)[-1] == ("claimed", T0 + 2 * M, staff["amal"], "accepted", "")


# --- release ---------------------------------------------------------------------------------

def test_the_holder_releases_and_the_timeline_says_who_and_when(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.release(rid, staff["amal"], now=T0 + 5 * M)
    assert claim_state(rid) == (None, None)
    assert events(rid, 2) == [("released", T0 + 5 * M, staff["amal"], "", "")]


def test_releasing_someone_elses_lapsed_claim_just_clears_it(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.release(rid, staff["bashir"], now=T0 + 16 * M)
    assert claim_state(rid) == (None, None)
    assert [e[0] for e in events(rid)] == ["created", "claimed"]


# --- reveal ----------------------------------------------------------------------------------

def test_the_holder_sees_the_number_and_the_audit_log_says_so(staff):
    rid = submit()
    ref = ref_of(rid)
    casework.claim(rid, staff["amal"], now=T0)
    assert casework.reveal_phone(rid, staff["amal"], now=T0 + M) == PHONE
    assert audit("reveal_phone") == [(T0 + M, staff["amal"], f"callback_request:{rid}",
                                      f"ref {ref}")]
    assert events(rid, 2) == [("phone_revealed", T0 + M, staff["amal"], "", "")]


def test_a_reveal_beyond_the_hourly_limit_names_the_approval_it_used(app, staff):
    app.extensions["hotline.callbacks"] = replace(casework.settings(), reveals_per_hour=1)
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.reveal_phone(rid, staff["amal"], now=T0)
    db.session.add(RevealApproval(request_id=rid, staff_id=staff["amal"], status="approved",
                                  asked_at=T0, decided_at=T0 + M,
                                  decided_by_id=staff["sue"]))
    db.session.commit()
    assert casework.reveal_phone(rid, staff["amal"], now=T0 + 2 * M) == PHONE
    assert audit("reveal_phone")[-1] == (T0 + 2 * M, staff["amal"], f"callback_request:{rid}",
                                         f"ref {ref_of(rid)}; approved by staff {staff['sue']}")


def test_a_reveal_over_the_limit_asks_a_supervisor_naming_the_request(app, staff):
    app.extensions["hotline.callbacks"] = replace(casework.settings(), reveals_per_hour=1)
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.reveal_phone(rid, staff["amal"], now=T0)
    with pytest.raises(RevealLimit):
        casework.reveal_phone(rid, staff["amal"], now=T0 + M)
    assert audit("reveal_approval_asked") == [
        (T0 + M, staff["amal"], f"callback_request:{rid}", f"ref {ref_of(rid)}")]
    assert len(audit("reveal_phone")) == 1


# --- attempts --------------------------------------------------------------------------------

def test_no_answer_releases_the_claim_and_schedules_the_first_retry(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    done = casework.log_attempt(rid, staff["amal"], "no_answer", "  rang out  ", now=T0 + M)
    assert done == AttemptResult(rid, ref_of(rid), "open", 1, T0 + 31 * M, False)
    r = row(rid)
    assert (r.attempts, r.first_attempt_at, r.updated_at, r.next_attempt_at, r.status) == (
        1, T0 + M, T0 + M, T0 + 31 * M, "open")
    assert claim_state(rid) == (None, None)
    assert events(rid, 2) == [
        ("attempt", T0 + M, staff["amal"], "no_answer", "rang out"),
        ("rescheduled", T0 + M, None, "2026-11-29 06:31 UTC", "")]


def test_reaching_the_caller_keeps_the_claim_for_the_follow_up(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.log_attempt(rid, staff["amal"], "busy", now=T0 + M)
    casework.claim(rid, staff["amal"], now=T0 + 40 * M)
    done = casework.log_attempt(rid, staff["amal"], "reached", now=T0 + 41 * M)
    assert done == AttemptResult(rid, ref_of(rid), "open", 2, None, True)
    r = row(rid)
    assert (r.first_attempt_at, r.updated_at, r.next_attempt_at) == (T0 + M, T0 + 41 * M, None)
    assert claim_state(rid) == (staff["amal"], T0 + 56 * M)
    assert events(rid)[-1] == ("attempt", T0 + 41 * M, staff["amal"], "reached", "")


def tries_until_unreachable(rid: int, staff_id: int) -> list[AttemptResult]:
    """No answer each time the retry falls due, until the request closes."""
    now, done = T0, []
    while not done or done[-1].status == "open":
        assert len(done) < 8, "still open after 8 unanswered tries"
        casework.claim(rid, staff_id, now=now)
        done.append(casework.log_attempt(rid, staff_id, "no_answer", now=now))
        now = done[-1].next_attempt_at or now
    return done


def test_retries_back_off_then_unreachable_after_four_tries_on_two_days(staff):
    rid = submit()
    done = tries_until_unreachable(rid, staff["amal"])
    monday = T0 + timedelta(days=1)
    # 30, 120, then 420 working minutes: Sunday 10:30 in Khartoum + 7 h is Monday 10:30
    assert [d.next_attempt_at for d in done] == [T0 + 30 * M, T0 + 150 * M,
                                                 monday + 150 * M, None]
    assert [d.status for d in done] == ["open"] * 3 + ["unreachable"]
    assert done[-1] == AttemptResult(rid, ref_of(rid), "unreachable", 4, None, False)
    r = row(rid)
    assert (r.status, r.outcome, r.resolved_at, r.next_attempt_at) == (
        "unreachable", "unreachable", monday + 150 * M, None)
    assert events(rid)[-2:] == [
        ("attempt", monday + 150 * M, staff["amal"], "no_answer", ""),
        ("unreachable", monday + 150 * M, None, "4 attempts without answer on 2 days", "")]
    assert [e[3] for e in events(rid) if e[0] == "rescheduled"] == [
        "2026-11-29 06:30 UTC", "2026-11-29 08:30 UTC", "2026-11-30 08:30 UTC"]


def test_the_backoff_repeats_its_last_step_and_counts_only_this_requests_tries(staff):
    rid = submit()
    other = submit(OTHER_PHONE, reason="medical")
    casework.claim(other, staff["bashir"], now=T0)
    casework.log_attempt(other, staff["bashir"], "no_answer", now=T0)  # not this request's
    dues = []
    for i in range(4):  # all on Sunday: tries on one day never make "unreachable"
        casework.claim(rid, staff["amal"], now=T0 + i * M)
        dues.append(casework.log_attempt(rid, staff["amal"], "busy", now=T0 + i * M,
                                         confirm_early=True).next_attempt_at)
    monday = T0 + timedelta(days=1)
    assert dues == [T0 + 30 * M, T0 + 121 * M, monday + 2 * M, monday + 3 * M]
    assert row(rid).status == "open"


def test_not_safe_to_talk_retries_without_counting_towards_unreachable(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    done = casework.log_attempt(rid, staff["amal"], "not_safe", now=T0)
    assert done.next_attempt_at == T0 + 30 * M and done.attempts == 1
    assert events(rid)[-2][3] == "not_safe"


def test_a_retry_waits_for_the_callers_chosen_window(staff):
    rid = submit(reason="medical", safe="times", safe_times="evening")
    casework.claim(rid, staff["amal"], now=T0)
    due = casework.log_attempt(rid, staff["amal"], "no_answer", now=T0).next_attempt_at
    assert due == T0.replace(hour=13, minute=30)  # 15:30 in Khartoum, not 08:30


def test_an_early_try_is_kept_but_not_counted_unless_staff_confirm(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.log_attempt(rid, staff["amal"], "no_answer", now=T0)  # due at T0 + 30
    casework.claim(rid, staff["amal"], now=T0 + 10 * M)
    early = casework.log_attempt(rid, staff["amal"], "busy", now=T0 + 10 * M,
                                 confirm_early=False)
    assert early.next_attempt_at == T0 + 40 * M  # still the first backoff: one counted try
    assert events(rid)[-2] == ("attempt", T0 + 10 * M, staff["amal"], "busy_early", "")
    casework.claim(rid, staff["amal"], now=T0 + 11 * M)
    counted = casework.log_attempt(rid, staff["amal"], "busy", now=T0 + 11 * M,
                                   confirm_early=True)
    assert counted.next_attempt_at == T0 + 131 * M and counted.attempts == 3
    assert events(rid)[-2][3] == "busy"
    # at the due time itself the try is not early
    casework.claim(rid, staff["amal"], now=T0 + 131 * M)
    on_time = casework.log_attempt(rid, staff["amal"], "busy", now=T0 + 131 * M)
    assert on_time.attempts == 4


def test_a_reached_call_before_the_retry_is_due_needs_no_confirmation(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.log_attempt(rid, staff["amal"], "no_answer", now=T0)
    casework.claim(rid, staff["amal"], now=T0 + M)
    assert casework.log_attempt(rid, staff["amal"], "reached", now=T0 + M).claim_kept


def test_a_first_try_is_never_early(staff):
    """A missed-call request is due at the next opening; calling before it is not "early"."""
    rid = submit()
    r = row(rid)
    r.next_attempt_at = T0 + 60 * M
    db.session.commit()
    casework.claim(rid, staff["amal"], now=T0)
    assert casework.log_attempt(rid, staff["amal"], "no_answer", now=T0).attempts == 1


def test_tries_before_a_reopening_no_longer_count(staff):
    rid = submit()
    closed = tries_until_unreachable(rid, staff["amal"])[-2].next_attempt_at
    casework.reopen(rid, staff["sue"], "the caller's sister called", now=closed + M)
    casework.claim(rid, staff["amal"], now=closed + 2 * M)
    again = casework.log_attempt(rid, staff["amal"], "no_answer", now=closed + 2 * M)
    assert again.status == "open" and again.next_attempt_at == closed + 32 * M


def test_another_requests_reopening_leaves_this_ones_tries_counted(staff):
    rid = submit()
    other = submit(OTHER_PHONE, reason="medical")
    casework.claim(other, staff["bashir"], now=T0)
    casework.resolve(other, staff["bashir"], "helped", now=T0)
    casework.claim(rid, staff["amal"], now=T0)
    casework.log_attempt(rid, staff["amal"], "no_answer", now=T0)
    casework.reopen(other, staff["sue"], "one more question", now=T0 + M)
    casework.claim(rid, staff["amal"], now=T0 + 30 * M)
    second = casework.log_attempt(rid, staff["amal"], "no_answer", now=T0 + 30 * M)
    assert second.next_attempt_at == T0 + 150 * M  # the second backoff


# --- record a call (one form) ----------------------------------------------------------------

def test_a_reached_call_closes_the_request_with_outcome_referral_and_follow_up(staff):
    rid = submit(reason="medical")
    casework.claim(rid, staff["amal"], now=T0)
    record = CallRecord("reached", outcome="referred", referral="medical",
                        follow_up=date(2026, 12, 3), note="  needs a clinic  ")
    done = casework.record_call(rid, staff["amal"], record, now=T0 + M)
    assert done == AttemptResult(rid, ref_of(rid), "resolved", 1, None, False)
    r = row(rid)
    assert (r.status, r.outcome, r.referral, r.follow_up_on, r.resolved_at, r.updated_at,
            r.next_attempt_at, r.attempts, r.first_attempt_at, r.reason, r.language) == (
        "resolved", "referred", "medical", date(2026, 12, 3), T0 + M, T0 + M, None, 1,
        T0 + M, "medical", "en")
    assert claim_state(rid) == (None, None)
    assert events(rid, 2) == [
        ("attempt", T0 + M, staff["amal"], "reached", ""),
        ("resolved", T0 + M, staff["amal"], "referred; referral: medical; follow-up 2026-12-03",
         "needs a clinic")]


def test_a_wrong_number_closes_the_request_as_such(staff):
    rid = submit(reason="medical")
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord("wrong_number", outcome="helped"),
                         now=T0)
    r = row(rid)
    assert (r.status, r.outcome, r.referral, r.follow_up_on) == (
        "resolved", "wrong_number", "none", None)
    assert events(rid)[-1] == ("resolved", T0, staff["amal"], "wrong_number; referral: none",
                               "")


def test_staff_complete_a_missed_calls_reason_and_language(staff):
    caller_requests.record_ring(PHONE, now=T0)
    db.session.commit()
    rid = row(1).id
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord(
        "reached", outcome="helped", reason="counselling", language="ar"), now=T0)
    r = row(rid)
    assert (r.reason, r.language, r.status) == ("counselling", "ar", "resolved")
    assert events(rid, 2)[0] == ("details", T0, staff["amal"], "staff: counselling, ar", "")


def test_staff_replace_the_reason_other_with_what_the_caller_said(staff):
    rid = submit(reason="other", language="en")
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord(
        "reached", outcome="helped", reason="resettlement"), now=T0)
    assert row(rid).reason == "resettlement"
    assert events(rid, 2)[0] == ("details", T0, staff["amal"], "staff: resettlement, en", "")


def test_a_reason_the_caller_gave_is_kept_but_a_new_language_is_written(staff):
    rid = submit(reason="medical", language="en")
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord(
        "reached", outcome="helped", reason="info", language="ar"), now=T0)
    r = row(rid)
    assert (r.reason, r.language) == ("medical", "ar")
    assert events(rid, 2)[0] == ("details", T0, staff["amal"], "staff: medical, ar", "")


def test_a_language_only_change_on_a_missed_call_keeps_its_reason_unknown(staff):
    caller_requests.record_ring(PHONE, now=T0)
    db.session.commit()
    casework.claim(1, staff["amal"], now=T0)
    casework.record_call(1, staff["amal"], CallRecord("reached", outcome="helped",
                                                      language="ar"), now=T0)
    assert (row(1).reason, row(1).language) == ("unknown", "ar")
    assert events(1, 2)[0][3] == "staff: unknown, ar"


def test_the_same_details_again_write_no_details_line(staff):
    rid = submit(reason="medical", language="en")
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord(
        "reached", outcome="helped", reason="medical", language="en"), now=T0)
    assert [e[0] for e in events(rid, 2)] == ["attempt", "resolved"]


def test_an_unanswered_call_on_the_form_is_an_attempt_with_its_note(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord("busy", note=" line busy "), now=T0)
    casework.claim(rid, staff["amal"], now=T0 + M)
    done = casework.record_call(rid, staff["amal"], CallRecord("no_answer",
                                                               confirm_early=False), now=T0 + M)
    assert done.status == "open" and done.next_attempt_at == T0 + 31 * M
    assert [e[3:] for e in events(rid) if e[0] == "attempt"] == [
        ("busy", "line busy"), ("no_answer_early", "")]


def test_a_follow_up_may_be_today_or_a_year_ahead(staff):
    today = date(2026, 11, 29)
    for follow_up in (today, today + timedelta(days=366)):
        rid = submit(f"+2499122{follow_up.year}{follow_up.day:02d}", reason="medical")
        casework.claim(rid, staff["amal"], now=T0)
        casework.record_call(rid, staff["amal"], CallRecord("reached", outcome="helped",
                                                            follow_up=follow_up), now=T0)
        assert row(rid).follow_up_on == follow_up


def test_a_reached_call_with_no_new_details_writes_only_the_call_and_the_closing(staff):
    rid = submit(reason="medical", language="en")
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord("reached", outcome="helped"), now=T0)
    assert [e[0] for e in events(rid, 2)] == ["attempt", "resolved"]
    assert (row(rid).reason, row(rid).language) == ("medical", "en")


def test_a_missed_calls_reason_without_a_language_reads_unknown(staff):
    caller_requests.record_ring(PHONE, now=T0)
    db.session.commit()
    assert row(1).language is None
    casework.claim(1, staff["amal"], now=T0)
    casework.record_call(1, staff["amal"], CallRecord("reached", outcome="helped",
                                                      reason="avrr"), now=T0)
    assert (row(1).reason, row(1).language) == ("avrr", None)
    assert events(1, 2)[0] == ("details", T0, staff["amal"], "staff: avrr, unknown", "")


# --- resolve, reopen, reassign ---------------------------------------------------------------

def test_resolve_closes_with_outcome_and_referral(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.log_attempt(rid, staff["amal"], "reached", now=T0)
    casework.resolve(rid, staff["amal"], "helped", "protection", "  safe now  ", now=T0 + M)
    r = row(rid)
    assert (r.status, r.outcome, r.referral, r.resolved_at, r.updated_at,
            r.next_attempt_at) == ("resolved", "helped", "protection", T0 + M, T0 + M, None)
    assert claim_state(rid) == (None, None)
    assert events(rid)[-1] == ("resolved", T0 + M, staff["amal"],
                               "helped; referral: protection", "safe now")


def test_resolve_without_a_referral_says_none(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.resolve(rid, staff["amal"], "declined", now=T0)
    assert row(rid).referral == "none"
    assert events(rid)[-1] == ("resolved", T0, staff["amal"], "declined; referral: none", "")


def test_reopening_clears_the_closing_and_is_audited(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.record_call(rid, staff["amal"], CallRecord(
        "reached", outcome="referred", referral="avrr", follow_up=date(2026, 12, 1)), now=T0)
    casework.reopen(rid, staff["sue"], "  the referral fell through  ", now=T0 + M)
    r = row(rid)
    assert (r.status, r.outcome, r.referral, r.resolved_at, r.follow_up_on, r.updated_at,
            r.next_attempt_at) == ("open", None, None, None, None, T0 + M, T0 + M)
    assert events(rid)[-1] == ("reopened", T0 + M, staff["sue"], "was resolved",
                               "the referral fell through")
    assert audit("reopen_callback") == [(T0 + M, staff["sue"], f"callback_request:{rid}",
                                         f"ref {ref_of(rid)} was resolved")]


def test_an_unreachable_request_can_be_reopened(staff):
    rid = submit()
    closed = tries_until_unreachable(rid, staff["amal"])[-2].next_attempt_at
    casework.reopen(rid, staff["sue"], "new number", now=closed + M)
    assert row(rid).status == "open"
    assert events(rid)[-1][3] == "was unreachable"


def test_reassign_hands_the_claim_over_and_is_audited(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    moved = casework.reassign(rid, staff["sue"], staff["bashir"], now=T0 + 3 * M)
    assert moved == ClaimResult(rid, ref_of(rid), staff["bashir"], T0 + 18 * M, False)
    assert claim_state(rid) == (staff["bashir"], T0 + 18 * M)
    assert events(rid)[-1] == ("reassigned", T0 + 3 * M, staff["sue"], "to Bashir", "")
    assert audit("reassign_callback") == [
        (T0 + 3 * M, staff["sue"], f"callback_request:{rid}",
         f"ref {ref_of(rid)} to staff {staff['bashir']}")]


def test_reassigning_to_someone_without_a_name_shows_their_email(staff):
    rid = submit()
    casework.reassign(rid, staff["sue"], staff["anon"], now=T0)
    assert events(rid)[-1][3] == "to anon@mrrc.example"


def test_reassigning_to_a_full_handed_holder_of_this_request_is_allowed(staff):
    ids = [submit(f"+2499100000{i:02d}", reason="medical") for i in range(5)]
    for rid in ids:
        casework.claim(rid, staff["bashir"], now=T0)
    assert casework.reassign(ids[0], staff["sue"], staff["bashir"], now=T0).staff_id == \
        staff["bashir"]


# --- the sweep and the banner ----------------------------------------------------------------

def test_the_sweep_returns_lapsed_claims_only_and_says_whose(staff):
    lapsed, live = submit(), submit(OTHER_PHONE, reason="medical")
    # request ids 1, 2 and staff ids 1, 2 crossed: a request is never taken for its holder
    casework.claim(lapsed, staff["bashir"], now=T0)
    casework.claim(live, staff["amal"], now=T0 + 10 * M)
    assert casework.expire_claims(now=T0 + 16 * M) == "callbacks: 1 expired claim(s) released"
    assert claim_state(lapsed) == (None, None)
    assert claim_state(live) == (staff["amal"], T0 + 25 * M)
    assert events(lapsed)[-1] == ("claim_expired", T0 + 16 * M, staff["bashir"], "", "")
    assert [e[0] for e in events(live)] == ["created", "claimed"]
    assert casework.expire_claims(now=T0 + 16 * M) == "callbacks: 0 expired claim(s) released"


def test_the_sweep_skips_a_request_someone_is_working_on_right_now(staff):
    """A staff action holding the row's lock is not waited for: the next sweep gets it."""
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    other = create_app(overrides())
    locked, done = threading.Event(), threading.Event()

    def hold_the_row() -> None:
        with other.app_context():
            db.session.execute(select(CallbackRequest.id).where(CallbackRequest.id == rid)
                               .with_for_update())
            locked.set()
            done.wait(timeout=5)
            db.session.rollback()

    worker = threading.Thread(target=hold_the_row)
    worker.start()
    try:
        assert locked.wait(timeout=10)
        assert casework.expire_claims(now=T0 + 16 * M) == \
            "callbacks: 0 expired claim(s) released"
    finally:
        done.set()
        worker.join(timeout=10)
        dispose(other)
    assert claim_state(rid) == (staff["amal"], T0 + 15 * M)
    assert casework.expire_claims(now=T0 + 16 * M) == "callbacks: 1 expired claim(s) released"


def test_the_sweep_leaves_a_claim_until_its_end(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.expire_claims(now=T0 + 15 * M - timedelta(microseconds=1))
    assert claim_state(rid) == (staff["amal"], T0 + 15 * M)
    casework.expire_claims(now=T0 + 15 * M)
    assert claim_state(rid) == (None, None)


def test_at_its_end_a_claim_is_over_for_everyone_at_once(staff):
    """The holder may no longer act from the claim's end; from that same instant the
    banner counts the request as waiting and anyone may take it (there is no instant
    in which nobody can work on it)."""
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    end = T0 + 15 * M
    assert casework.urgent_waiting(now=end - timedelta(microseconds=1)) is None
    assert casework.urgent_waiting(now=end) == UrgentWaiting(1, rid, ref_of(rid), 15 * M)
    with pytest.raises(casework.NotHolder):
        casework.log_attempt(rid, staff["amal"], "no_answer", now=end)
    taken = casework.claim(rid, staff["bashir"], now=end)
    assert taken == ClaimResult(rid, ref_of(rid), staff["bashir"], end + 15 * M, False)


def test_the_urgent_banner_counts_unworked_urgent_requests_and_names_the_oldest(staff):
    assert casework.urgent_waiting(now=T0) is None
    submit("+249910000001", reason="medical", now=T0 - 60 * M)  # older, but not urgent
    first = submit("+249910000002", now=T0)
    second = submit("+249910000003", now=T0 + 5 * M)
    third = submit("+249910000004", now=T0 + 6 * M)
    assert casework.urgent_waiting(now=T0 + 10 * M) == UrgentWaiting(
        3, first, ref_of(first), timedelta(minutes=10))
    casework.claim(first, staff["amal"], now=T0 + 10 * M)
    casework.claim(third, staff["bashir"], now=T0 + 10 * M)
    casework.release(third, staff["bashir"], now=T0 + 11 * M)
    assert casework.urgent_waiting(now=T0 + 20 * M) == UrgentWaiting(
        2, second, ref_of(second), timedelta(minutes=15))
    # the claim lapses at T0 + 25: the oldest waits again
    assert casework.urgent_waiting(now=T0 + 26 * M) == UrgentWaiting(
        3, first, ref_of(first), timedelta(minutes=26))
    for rid in (first, second, third):
        casework.claim(rid, staff["amal"], now=T0 + 26 * M)
        casework.resolve(rid, staff["amal"], "helped", now=T0 + 26 * M)
    assert casework.urgent_waiting(now=T0 + 30 * M) is None


def test_the_urgent_banner_names_the_earliest_created_then_the_first_stored(staff):
    later = submit("+249910000002", now=T0 + 5 * M)
    earlier = submit("+249910000003", now=T0)  # stored second, created first
    assert casework.urgent_waiting(now=T0 + 10 * M).request_id == earlier
    casework.claim(earlier, staff["amal"], now=T0 + 10 * M)
    tie = submit("+249910000004", now=T0 + 5 * M)  # created with ``later``, stored after it
    assert casework.urgent_waiting(now=T0 + 10 * M) == UrgentWaiting(
        2, later, ref_of(later), timedelta(minutes=5))
    assert tie > later


def test_the_urgent_banner_never_shows_a_negative_age(staff):
    rid = submit(now=T0)
    assert casework.urgent_waiting(now=T0 - M) == UrgentWaiting(1, rid, ref_of(rid),
                                                                timedelta(0))


def test_services_read_the_clock_when_not_given_a_time(staff, monkeypatch):
    monkeypatch.setattr("hotline.services.callback_policy.clock", lambda: T0 + 2 * M)
    rid = submit()
    assert casework.claim(rid, staff["amal"]).expires_at == T0 + 17 * M
    assert casework.urgent_waiting() is None  # claimed
    casework.release(rid, staff["amal"])
    assert casework.urgent_waiting().age == 2 * M
    assert events(rid)[-1][:2] == ("released", T0 + 2 * M)
    assert clock() is not None


def test_a_timeline_line_is_cut_to_its_column_not_refused(staff):
    """A nameless colleague with a very long e-mail address still gets the request."""
    email = "a" * 230 + "@mrrc.example"
    long = StaffUser(email=email, name="", password_hash="x")
    db.session.add(long)
    db.session.commit()
    rid = submit()
    casework.reassign(rid, staff["sue"], long.id, now=T0)
    assert events(rid)[-1][3] == ("to " + email)[:200]
    assert claim_state(rid)[0] == long.id
