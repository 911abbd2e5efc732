"""What the dashboard calls each stored code, in one place for a later Arabic interface.

Codes come from the service vocabulary (``hotline.services.callbacks``); a code
without a label here is shown as it is stored, so a new code is never hidden.
"""

from __future__ import annotations

REASON = {
    "danger": "Danger or exploitation",
    "medical": "Medical help",
    "counselling": "Counselling",
    "avrr": "Going home (AVRR)",
    "info": "Information",
    "resettlement": "Resettlement",
    "other": "Something else",
    "unknown": "Not said yet (missed call)",
}
CHANNEL = {"ussd": "USSD", "missed_call": "Missed call", "sms": "SMS"}
STATUS = {"open": "Open", "resolved": "Resolved", "unreachable": "Unreachable",
          "withdrawn": "Withdrawn by caller", "all": "Any status"}
LANGUAGE = {"ar": "Arabic", "en": "English", "unknown": "Not chosen yet"}
RESULT = {
    "reached": "Reached",
    "no_answer": "No answer",
    "busy": "Busy",
    "wrong_number": "Wrong number",
    "not_safe": "Not safe to talk",
}
OUTCOME = {
    "helped": "Helped",
    "information_given": "Information given",
    "referred": "Referred",
    "appointment_made": "Appointment made",
    "declined": "Caller declined",
    "wrong_number": "Wrong number",
    "duplicate": "Duplicate request",
    "other": "Other",
    "unreachable": "Unreachable",
}
REFERRAL = {
    "counselling": "Counselling",
    "medical": "Medical",
    "avrr": "AVRR",
    "protection": "Protection",
    "other": "Other",
    "none": "No referral",
}
# The words the caller chose from (content callback.times.*): "evening" is 15:00-18:00 by
# default, which Sudanese call late afternoon («عصرا»); the hours are in [callbacks.windows].
SAFE_TIMES = {"morning": "Morning", "afternoon": "Midday", "evening": "Late afternoon"}
SAFE = {"yes": "Any time", "times": "Only at certain times", "unknown": "Not asked (missed call)"}
EVENT = {
    "created": "Request received",
    "details": "Caller added details",
    "updated": "Caller asked again",
    "ring": "Missed call",
    "claimed": "Claimed",
    "released": "Released",
    "claim_expired": "Claim expired",
    "phone_revealed": "Number revealed",
    "attempt": "Call attempt",
    "rescheduled": "Next attempt scheduled",
    "unreachable": "Marked unreachable",
    "resolved": "Resolved",
    "reassigned": "Reassigned",
    "withdrawn": "Withdrawn by caller",
}
ROLE = {"agent": "Agent", "supervisor": "Supervisor", "admin": "Admin"}
AUDIT = {
    "reveal_phone": "Revealed a phone number",
    "reassign_callback": "Reassigned a request",
    "export_callbacks": "Exported requests (CSV)",
    "staff_create": "Created a staff account",
    "staff_update": "Changed a staff account",
    "staff_password": "Set a password",
    "staff_unlock": "Unlocked an account",
    "staff_locked": "Account paused after failed sign-ins",
    "staff_login": "Signed in",
}


def label(table: dict[str, str], code: str | None) -> str:
    """The label of ``code``, or the code itself; ``None`` reads as a dash."""
    if code is None or code == "":
        return "—"
    return table.get(code, code)
