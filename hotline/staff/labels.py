"""What the dashboard calls each stored code, in both languages and in one place.

Codes come from the service vocabulary (``hotline.services.callback_policy``); pages and
the CSV show these labels, never the codes. Each label is a lazy gettext string,
so it reads in the language of the request that shows it. A code without a label
here is shown as it is stored (``tests/test_staff_i18n.py`` fails when one of the
service's codes has none), so a new code is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l

REASON = {
    "danger": _l("Danger or exploitation"),
    "medical": _l("Medical help"),
    "counselling": _l("Counselling"),
    "avrr": _l("Going home (AVRR)"),
    "info": _l("Information"),
    "resettlement": _l("Resettlement"),
    "other": _l("Something else"),
    "unknown": _l("Not said yet (missed call)"),
}
CHANNEL = {"ussd": _l("USSD"), "missed_call": _l("Missed call"), "sms": _l("SMS")}
STATUS = {"open": _l("Open"), "resolved": _l("Resolved"), "unreachable": _l("Unreachable"),
          "withdrawn": _l("Withdrawn by caller"), "all": _l("Any status")}
LANGUAGE = {"ar": _l("Arabic"), "en": _l("English"), "unknown": _l("Not chosen yet")}
RESULT = {
    "reached": _l("Reached"),
    "no_answer": _l("No answer"),
    "busy": _l("Busy"),
    "wrong_number": _l("Wrong number"),
    "not_safe": _l("Not safe to talk"),
    "no_answer_early": _l("No answer (before the retry was due, not counted)"),
    "busy_early": _l("Busy (before the retry was due, not counted)"),
}
OUTCOME = {
    "helped": _l("Helped"),
    "information_given": _l("Information given"),
    "referred": _l("Referred"),
    "appointment_made": _l("Appointment made"),
    "declined": _l("Caller declined"),
    "wrong_number": _l("Wrong number"),
    "duplicate": _l("Duplicate request"),
    "other": _l("Other"),
    "unreachable": _l("Unreachable"),
}
REFERRAL = {
    "counselling": _l("Counselling"),
    "medical": _l("Medical"),
    "avrr": _l("AVRR"),
    "protection": _l("Protection"),
    "other": _l("Other"),
    "none": _l("No referral"),
}
# The words the caller chose from (content callback.times.*): "evening" is 15:00-18:00 by
# default, which Sudanese call late afternoon («عصرا»); the hours are in [callbacks.windows]
# and ``safe_time`` adds them, so staff call in the window the caller saw.
SAFE_TIMES = {"morning": _l("Morning"), "afternoon": _l("Midday"),
              "evening": _l("Late afternoon")}
SAFE = {"yes": _l("Any time"), "times": _l("Only at certain times"),
        "unknown": _l("Not asked (missed call)")}
EVENT = {
    "created": _l("Request received"),
    "details": _l("Details added"),
    "updated": _l("Caller asked again"),
    "ring": _l("Missed call"),
    "claimed": _l("Claimed"),
    "released": _l("Released"),
    "claim_expired": _l("Claim expired"),
    "phone_revealed": _l("Number revealed"),
    "attempt": _l("Call attempt"),
    "rescheduled": _l("Next attempt scheduled"),
    "unreachable": _l("Marked unreachable"),
    "resolved": _l("Resolved"),
    "reassigned": _l("Reassigned"),
    "withdrawn": _l("Withdrawn by caller"),
    "reopened": _l("Reopened"),
    "linked": _l("Follows an earlier request"),
    "sms": _l("Text from the caller"),
    "sms_reply": _l("Text reply sent"),
}
STATE = {
    "callable": _l("Callable now"),
    "waiting": _l("Waiting"),
    "breached": _l("Past deadline"),
    "closed": _l("Closed"),
}
WAITING = {
    "retry": _l("Retry due at %(at)s"),
    "window": _l("Safe window opens at %(at)s"),
    "hours": _l("Working hours start at %(at)s"),
}
PRIORITY = {"urgent": _l("Urgent"), "normal": _l("Normal")}
YES_NO = {"yes": _l("Yes"), "no": _l("No")}
FIELD = {"result": _l("How did the call go?"), "outcome": _l("Outcome"),
         "referral": _l("Referral"), "reason": _l("Reason"), "language": _l("Language"),
         "note": _l("Note")}
INBOX = {"new": _l("New"), "attached": _l("On a request"), "answered": _l("Answered"),
         "converted": _l("Made a request"), "dismissed": _l("Dismissed"),
         "all": _l("Any status")}
ROLE = {"agent": _l("Agent"), "supervisor": _l("Supervisor"), "admin": _l("Admin")}
AUDIT = {
    "reveal_phone": _l("Revealed a phone number"),
    "reassign_callback": _l("Reassigned a request"),
    "reopen_callback": _l("Reopened a request"),
    "search_phone": _l("Searched by phone number"),
    "export_callbacks": _l("Exported requests (CSV)"),
    "staff_create": _l("Created a staff account"),
    "staff_update": _l("Changed a staff account"),
    "staff_password": _l("Set a password"),
    "staff_unlock": _l("Unlocked an account"),
    "staff_locked": _l("Account paused after failed sign-ins"),
    "staff_login": _l("Signed in"),
    "sms_reply": _l("Answered a text message"),
    "sms_dismiss": _l("Dismissed a text message"),
    "sms_to_request": _l("Made a request from a text message"),
    "staff_login_failed": _l("Failed sign-in"),
    "staff_logout": _l("Signed out"),
    "staff_recovery_code": _l("Signed in with a recovery code"),
    "staff_totp_on": _l("Set up a second factor"),
    "staff_totp_off": _l("Switched the second factor off"),
    "staff_totp_reset": _l("Removed someone's second factor"),
    "claim_callback": _l("Claimed a request"),
    "reveal_approval_asked": _l("Asked to reveal beyond the hourly limit"),
    "reveal_approved": _l("Approved a reveal"),
    "reveal_refused": _l("Refused a reveal"),
}
UI_LANGUAGE = {"ar": "العربية", "en": "English"}  # each in its own language


def safe_time(code: str, windows: Mapping[str, object]) -> str:
    """A safe-time window with its hours from ``[callbacks.windows]`` ("Late afternoon
    (15:00-18:00)"): the caller chose from labels that showed the hours, and a word alone
    ("evening") would send staff to call at the wrong time."""
    hours = windows.get(code)
    return f"{label(SAFE_TIMES, code)} ({hours})" if hours else label(SAFE_TIMES, code)


def label(table: Mapping[str, object], code: str | None) -> str:
    """The label of ``code`` in the page's language, or the code itself; None reads "—"."""
    if code is None or code == "":
        return "—"
    return str(table.get(code, code))
