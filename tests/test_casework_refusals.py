"""What staff are refused on a callback request, with the code the dashboard translates and
the values it fills in, and that a refusal writes nothing (issue 14)."""

from datetime import date, timedelta

import pytest

from hotline.extensions import db
from hotline.services import caller_requests, casework
from hotline.services.callback_policy import (
    NOTE_MAX,
    ClaimConflict,
    EarlyAttempt,
    InvalidChoice,
    NotHolder,
    RequestClosed,
    RequestNotFound,
    UnknownStaff,
    _note,
)
from hotline.services.casework import CallRecord
from hotline.services.reveals import ClaimLimit
from tests.casework_kit import (
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

M = timedelta(minutes=1)


def refused(error: type, call, *args, **kwargs) -> Exception:
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    return caught.value


def coded(exc: Exception) -> tuple:
    return type(exc).__name__, exc.code, exc.values


# --- claim -----------------------------------------------------------------------------------

def test_a_claim_held_by_someone_else_is_refused_naming_them(staff):
    rid = submit()
    ref = ref_of(rid)
    casework.claim(rid, staff["amal"], now=T0)
    lost = refused(ClaimConflict, casework.claim, rid, staff["bashir"], now=T0 + 14 * M)
    assert coded(lost) == ("ClaimConflict", "claim_conflict", {"holder": "Amal"})
    assert (lost.ref, lost.holder, lost.expires_at) == (ref, "Amal", T0 + 15 * M)
    assert str(lost) == f"request {ref} is being handled by Amal"
    assert claim_state(rid) == (staff["amal"], T0 + 15 * M)
    assert len(events(rid)) == 2 and len(audit("claim_callback")) == 1


def test_a_holder_without_a_name_is_named_by_email(staff):
    rid = submit()
    casework.claim(rid, staff["anon"], now=T0)
    lost = refused(ClaimConflict, casework.claim, rid, staff["amal"], now=T0 + M)
    assert lost.holder == "anon@mrrc.example"


def test_a_closed_request_cannot_be_claimed(staff):
    rid = submit()
    ref = ref_of(rid)
    assert caller_requests.cancel_by_caller(PHONE, ref, now=T0)
    closed = refused(RequestClosed, casework.claim, rid, staff["amal"], now=T0 + M)
    assert coded(closed) == ("RequestClosed", "request_closed", {"status": "withdrawn"})
    assert (closed.ref, closed.status) == (ref, "withdrawn")
    assert str(closed) == f"request {ref} is already withdrawn"
    assert claim_state(rid) == (None, None)


@pytest.mark.parametrize("bad", [True, "1", None, 9999])
def test_a_claim_on_no_such_request_is_refused_and_claims_nothing(staff, bad):
    rid = submit()
    missing = refused(RequestNotFound, casework.claim, bad, staff["amal"], now=T0)
    assert coded(missing) == ("RequestNotFound", "request_missing", {})
    assert str(missing) == f"no callback request {bad!r}"
    assert claim_state(rid) == (None, None) and audit("claim_callback") == []


def test_an_inactive_or_unknown_staff_member_cannot_claim(staff):
    rid = submit()
    for who in (staff["gone"], 999, True):
        assert refused(UnknownStaff, casework.claim, rid, who, now=T0).code == "staff_unknown"
    assert claim_state(rid) == (None, None)


def test_a_sixth_claim_is_refused(staff):
    ids = [submit(f"+2499100000{i:02d}", reason="medical") for i in range(6)]
    for rid in ids[:5]:
        casework.claim(rid, staff["amal"], now=T0)
    limit = refused(ClaimLimit, casework.claim, ids[5], staff["amal"], now=T0 + M)
    assert (limit.held, limit.limit) == (5, 5)
    assert claim_state(ids[5]) == (None, None)
    # once the others lapse, it may be taken
    assert casework.claim(ids[5], staff["amal"], now=T0 + 16 * M).staff_id == staff["amal"]


# --- release, reveal, holder-only actions ----------------------------------------------------

def test_only_the_holder_may_release_a_live_claim(staff):
    rid = submit()
    ref = ref_of(rid)
    casework.claim(rid, staff["amal"], now=T0)
    not_yours = refused(NotHolder, casework.release, rid, staff["bashir"], now=T0 + M)
    assert coded(not_yours) == ("NotHolder", "not_holder", {})
    assert not_yours.ref == ref
    assert str(not_yours) == f"claim request {ref} first: only the person holding it may do this"
    assert claim_state(rid) == (staff["amal"], T0 + 15 * M)


@pytest.mark.parametrize("action", ["reveal", "attempt", "resolve", "record"])
def test_holder_only_actions_are_refused_to_others_and_write_nothing(staff, action):
    rid = submit()
    ref = ref_of(rid)
    casework.claim(rid, staff["amal"], now=T0)
    calls = {
        "reveal": lambda who, at: casework.reveal_phone(rid, who, now=at),
        "attempt": lambda who, at: casework.log_attempt(rid, who, "no_answer", now=at),
        "resolve": lambda who, at: casework.resolve(rid, who, "helped", now=at),
        "record": lambda who, at: casework.record_call(
            rid, who, CallRecord("reached", outcome="helped"), now=at),
    }
    for who, at in ((staff["bashir"], T0 + M), (staff["amal"], T0 + 15 * M)):
        not_yours = refused(NotHolder, calls[action], who, at)
        assert not_yours.ref == ref and not_yours.code == "not_holder"
    assert len(events(rid)) == 2 and audit("reveal_phone") == []
    assert (row(rid).status, row(rid).attempts) == ("open", 0)
    # the holder, in time, may
    calls[action](staff["amal"], T0 + 14 * M)


@pytest.mark.parametrize("action", ["reveal", "attempt", "resolve", "reassign"])
def test_actions_on_a_closed_request_say_it_is_closed(staff, action):
    rid = submit()
    ref = ref_of(rid)
    casework.claim(rid, staff["amal"], now=T0)
    casework.resolve(rid, staff["amal"], "helped", now=T0)
    calls = {
        "reveal": lambda: casework.reveal_phone(rid, staff["amal"], now=T0 + M),
        "attempt": lambda: casework.log_attempt(rid, staff["amal"], "busy", now=T0 + M),
        "resolve": lambda: casework.resolve(rid, staff["amal"], "other", now=T0 + M),
        "reassign": lambda: casework.reassign(rid, staff["sue"], staff["bashir"], now=T0 + M),
    }
    closed = refused(RequestClosed, calls[action])
    assert (closed.ref, closed.status, closed.values) == (ref, "resolved", {"status": "resolved"})
    assert row(rid).status == "resolved" and events(rid)[-1][0] == "resolved"


# --- attempts --------------------------------------------------------------------------------

def test_an_early_unanswered_try_asks_whether_it_counts(staff):
    rid = submit()
    ref = ref_of(rid)
    casework.claim(rid, staff["amal"], now=T0)
    casework.log_attempt(rid, staff["amal"], "no_answer", now=T0)
    casework.claim(rid, staff["amal"], now=T0 + 29 * M)
    early = refused(EarlyAttempt, casework.log_attempt, rid, staff["amal"], "busy",
                    now=T0 + 29 * M)
    assert (early.code, early.ref, early.due_at) == ("early", ref, T0 + 30 * M)
    assert str(early) == f"the next try of request {ref} is not due yet"
    assert row(rid).attempts == 1 and events(rid)[-1][0] == "claimed"
    assert claim_state(rid) == (staff["amal"], T0 + 44 * M)  # still held: decide and log


def test_an_unknown_result_is_refused_before_anything_is_written(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    bad = refused(InvalidChoice, casework.log_attempt, rid, staff["amal"], "voicemail", now=T0)
    assert (bad.field, bad.problem, bad.code, bad.values) == (
        "result", "choice", "choice", {"field": "result"})
    assert str(bad) == ("result must be one of reached, no_answer, busy, wrong_number, "
                        "not_safe, got 'voicemail'")
    assert row(rid).attempts == 0


def test_a_note_too_long_is_refused_and_one_at_the_limit_is_kept(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    long = refused(InvalidChoice, casework.log_attempt, rid, staff["amal"], "reached",
                   "x" * (NOTE_MAX + 1), now=T0)
    assert (long.field, long.problem) == ("note", "too_long")
    assert str(long) == f"note is too long ({NOTE_MAX + 1} characters, at most {NOTE_MAX})"
    assert row(rid).attempts == 0
    casework.log_attempt(rid, staff["amal"], "reached", " " + "x" * NOTE_MAX + " ", now=T0)
    assert events(rid)[-1][4] == "x" * NOTE_MAX
    assert _note(None) == ""


# --- the call form ---------------------------------------------------------------------------

FORM_ERRORS = [
    (CallRecord("reached"), "outcome", "required"),
    (CallRecord("reached", outcome="cured"), "outcome", "choice"),
    (CallRecord("reached", outcome="helped", referral="police"), "referral", "choice"),
    (CallRecord("reached", outcome="helped", reason="unknown"), "reason", "choice"),
    (CallRecord("reached", outcome="helped", language="fr"), "language", "choice"),
    (CallRecord("reached", outcome="helped", follow_up=date(2026, 11, 28)), "follow_up",
     "range"),
    (CallRecord("reached", outcome="helped", follow_up=date(2026, 11, 29) + timedelta(367)),
     "follow_up", "range"),
    (CallRecord("hung_up"), "result", "choice"),
    (CallRecord("no_answer", note="y" * (NOTE_MAX + 1)), "note", "too_long"),
]


@pytest.mark.parametrize(("record", "field", "problem"), FORM_ERRORS)
def test_a_refused_call_form_leaves_no_half_logged_call(staff, record, field, problem):
    rid = submit(reason="medical")
    casework.claim(rid, staff["amal"], now=T0)
    bad = refused(InvalidChoice, casework.record_call, rid, staff["amal"], record, now=T0)
    assert (bad.field, bad.problem, bad.code) == (field, problem, problem)
    assert (row(rid).status, row(rid).attempts, len(events(rid))) == ("open", 0, 2)


def test_the_call_form_messages_say_what_is_wrong(staff):
    rid = submit(reason="medical")
    casework.claim(rid, staff["amal"], now=T0)
    record = casework.record_call
    assert str(refused(InvalidChoice, record, rid, staff["amal"], CallRecord("reached"),
                       now=T0)) == "say what came of the call (outcome)"
    assert str(refused(InvalidChoice, record, rid, staff["amal"], FORM_ERRORS[5][0],
                       now=T0)) == "the follow-up date must be within the coming year"
    assert "reason must be one of danger, medical, counselling, avrr, info, resettlement, " \
           "other, got 'unknown'" == str(refused(InvalidChoice, record, rid, staff["amal"],
                                                 FORM_ERRORS[3][0], now=T0))
    assert "language must be one of ar, en, got 'fr'" == str(
        refused(InvalidChoice, record, rid, staff["amal"], FORM_ERRORS[4][0], now=T0))
    # another centre's languages
    casework.record_call(rid, staff["amal"], FORM_ERRORS[4][0], now=T0, languages=("fr",))
    assert row(rid).language == "fr"


def test_the_follow_up_range_is_counted_in_khartoum(staff):
    """At 23:30 UTC on the 28th it is already the 29th in Khartoum."""
    late = T0.replace(day=28, hour=23, minute=30)
    rid = submit(reason="medical", now=late)
    casework.claim(rid, staff["amal"], now=late)
    refused(InvalidChoice, casework.record_call, rid, staff["amal"],
            CallRecord("reached", outcome="helped", follow_up=date(2026, 11, 28)), now=late)


# --- reopen, reassign ------------------------------------------------------------------------

def test_reopening_needs_a_reason(staff):
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    casework.resolve(rid, staff["amal"], "helped", now=T0)
    for reason in ("", "   "):
        why = refused(InvalidChoice, casework.reopen, rid, staff["sue"], reason, now=T0 + M)
        assert (why.field, why.problem, str(why)) == (
            "reason", "required", "say why the request is reopened")
    long = refused(InvalidChoice, casework.reopen, rid, staff["sue"], "z" * (NOTE_MAX + 1),
                   now=T0 + M)
    assert long.problem == "too_long"
    assert refused(UnknownStaff, casework.reopen, rid, staff["gone"], "why", now=T0 + M)
    assert row(rid).status == "resolved" and audit("reopen_callback") == []


def test_an_open_request_is_not_reopened_and_a_withdrawn_one_stays_closed(staff):
    rid = submit()
    ref = ref_of(rid)
    already = refused(InvalidChoice, casework.reopen, rid, staff["sue"], "why", now=T0)
    assert (already.field, already.problem, str(already)) == (
        "", "already_open", f"request {ref} is open already")
    caller_requests.cancel_by_caller(PHONE, ref, now=T0)
    gone = refused(RequestClosed, casework.reopen, rid, staff["sue"], "why", now=T0 + M)
    assert (gone.ref, gone.status) == (ref, "withdrawn")
    assert row(rid).status == "withdrawn" and audit("reopen_callback") == []
    assert refused(RequestNotFound, casework.reopen, 999, staff["sue"], "why", now=T0)


def test_reassigning_to_an_inactive_or_full_handed_colleague_is_refused(staff):
    ids = [submit(f"+2499100000{i:02d}", reason="medical") for i in range(6)]
    assert refused(UnknownStaff, casework.reassign, ids[0], staff["sue"], staff["gone"],
                   now=T0).code == "staff_unknown"
    for rid in ids[:5]:
        casework.claim(rid, staff["bashir"], now=T0)
    limit = refused(ClaimLimit, casework.reassign, ids[5], staff["sue"], staff["bashir"],
                    now=T0 + M)
    assert (limit.held, limit.limit) == (5, 5)
    assert claim_state(ids[5]) == (None, None) and audit("reassign_callback") == []
    assert refused(RequestNotFound, casework.reassign, 999, staff["sue"], staff["amal"],
                   now=T0)


def test_release_of_no_such_request_is_refused(staff):
    for bad in (999, True):
        assert refused(RequestNotFound, casework.release, bad, staff["amal"], now=T0)
    db.session.rollback()


def test_a_refusal_carries_the_values_its_translated_message_needs():
    """The dashboard fills "a whole number up to {most}" from the error's values."""
    page = InvalidChoice("the page must be a whole number", "page", "number", most=10**6)
    assert (page.code, page.values) == ("number", {"field": "page", "most": 10**6})


def test_a_hostile_value_makes_no_endless_message(staff):
    """The message goes to the log: a 5,000-character "result" is cut, not copied."""
    rid = submit()
    casework.claim(rid, staff["amal"], now=T0)
    bad = refused(InvalidChoice, casework.log_attempt, rid, staff["amal"], "x" * 5000, now=T0)
    assert len(str(bad)) == 300 and str(bad).startswith("result must be one of reached, ")
