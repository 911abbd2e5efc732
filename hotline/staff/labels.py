"""What the dashboard calls each stored code, in both languages and in one place.

Codes come from the service vocabulary (``hotline.services.callback_policy``); pages and
the CSV show these labels, never the codes. Each label is a lazy gettext string,
so it reads in the language of the request that shows it. A code without a label
here is shown as it is stored (``tests/test_staff_i18n.py`` fails when one of the
service's codes has none), so a new code is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

REASON = {
    "danger": _l("Danger or exploitation"),
    "medical": _l("Medical help"),
    "counselling": _l("Counselling"),
    "avrr": _l("Going home (AVRR)"),
    "info": _l("Information"),
    "resettlement": _l("Resettlement"),
    "other": _l("Something else"),
    "unknown": _l("Not said yet"),  # a missed call, or a text staff made a request of
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
        "unknown": _l("Not asked yet")}  # likewise: the channel says which
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
         "note": _l("Note"), "status": _l("Status"), "channel": _l("Channel"),
         "order": _l("Order"), "page": _l("Page"), "per_page": _l("Rows per page"),
         "safe_to_call": _l("Safe to call"), "safe_times": _l("Safe times"),
         "follow_up": _l("Follow-up date")}
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
    "leader_register": _l("Registered a community leader"),
    "leader_update": _l("Changed a community leader"),
    "leader_enable": _l("Switched a leader on"),
    "leader_disable": _l("Switched a leader off"),
    "leader_reset_pin": _l("Cleared a leader's PIN"),
    "leader_pin_locked": _l("Leader locked after wrong PINs"),
    "broadcast_confirm": _l("A leader sent an alert"),
    "broadcast_draft": _l("Wrote an alert for approval"),
    "broadcast_translate": _l("Added a language to an alert"),
    "broadcast_approve": _l("Approved an alert"),
    "broadcast_reject": _l("Rejected an alert"),
    "broadcast_pause": _l("Paused an alert"),
    "broadcast_resume": _l("Resumed an alert"),
    "broadcast_cancel": _l("Cancelled an alert"),
}
# Community alerts (services.broadcasts): a broadcast's status, what its messages are
# doing, why some were not sent, and the kind of alert subscribers chose.
BROADCAST = {"pending": _l("Waiting for approval"), "queued": _l("Starting"),
             "held": _l("Held for the quiet hours"),
             "sending": _l("Sending"), "paused": _l("Paused"), "done": _l("Done"),
             "cancelled": _l("Cancelled"), "expired": _l("Expired"),
             "rejected": _l("Rejected")}
MESSAGES = {"queued": _l("%(n)s queued"), "sending": _l("%(n)s sending"),
            "sent": _l("%(n)s sent"), "delivered": _l("%(n)s delivered"),
            "failed": _l("%(n)s failed"), "expired": _l("%(n)s expired"),
            "paused": _l("%(n)s held"), "cancelled": _l("%(n)s cancelled"),
            "suppressed": _l("%(n)s suppressed:")}
SUPPRESSION = {"opted_out": _l("opted out"), "exited": _l("silent exit"),
               "unreachable": _l("unreachable"), "danger": _l("danger request open"),
               "daily_cap": _l("daily limit"), "other": _l("other")}
# The "Sent messages" page (services.outbox_log): what each outgoing text is and where it is.
OUTBOX_STATUS = {"queued": _l("Waiting to be sent"), "sending": _l("Being sent"),
                 "sent": _l("Sent to the gateway"), "delivered": _l("Delivered to the phone"),
                 "undelivered": _l("Not delivered"), "failed": _l("Failed to send"),
                 "expired": _l("Expired unsent"), "suppressed": _l("Held back (not sent)")}
OUTBOX_KIND = {"alert": _l("Community alert"),
               "alert_decision": _l("Alert decision, to its leader"),
               "alert_summary": _l("Alert summary, to its leader"),
               "confirmation": _l("Request confirmation"), "oncall": _l("On-call notice"),
               "sms_reply": _l("Automatic reply"), "staff_reply": _l("Reply from staff"),
               "topic_copy": _l("Information copy")}
TOPIC = {"safety": _l("Safety warning"), "services": _l("MRRC service news"),
         "tips": _l("Awareness tip")}
# What the leader and alert services refuse (``CodedError.code``), in the reader's language.
ALERT_ERROR = {
    "name": _l("Name: 2 to 120 characters, no < > { }."),
    "phone": _l("Phone: not a valid mobile number."),
    "areas": _l("Areas: choose at least one of the listed areas."),
    "limit_number": _l("Daily limit: a whole number."),
    "limit_range": _l("Daily limit: from 1 to %(most)s."),
    "phone_taken": _l("Phone: this number is already a leader."),
    "missing": _l("No such leader."),
    "not_going_out": _l("Only a broadcast that is going out can be paused."),
    "not_paused": _l("Only a paused broadcast can be resumed."),
    "over": _l("This broadcast is over; there is nothing to cancel."),
    "text_empty": _l("Write the text in every language (%(lang)s is empty)."),
    "text_bad": _l("The %(lang)s text must be 1 to %(most)s printable characters, "
                   "without < > { }."),
    "text_long": _l("The %(lang)s text takes %(parts)s SMS with the sign-off; at most "
                    "%(most)s. Shorten it."),
    "topic": _l("Choose what kind of alert this is."),
    "not_pending": _l("Only an alert waiting for approval can be decided."),
    "author": _l("Someone other than the author must approve this alert."),
    "expired": _l("This alert expired before it was approved; write it again."),
}
# What the callback, reveal and inbox services refuse (``CodedError.code``: the class's own
# code, or the one given where it is raised); ``tests/test_staff_errors.py`` fails on any
# refusal a view can show that has no label here or in ALERT_ERROR.
SERVICE_ERROR = {
    "request_missing": _l("There is no such request."),
    "request_closed": _l("This request is already %(status)s."),
    "claim_conflict": _l("%(holder)s is handling this request."),
    "not_holder": _l("Claim this request first: only the person holding it may do this."),
    "staff_unknown": _l("That staff member does not exist or is switched off."),
    "early": _l("The next try of this request is not due yet."),
    "claim_limit": _l("You already hold %(n)s requests, the most one person may. "
                      "Finish or release one first."),
    "reveal_limit": _l("You revealed %(n)s numbers in the last hour, the most without "
                       "approval. A supervisor has been asked; press Reveal again once "
                       "they approve."),
    "reveal_refused": _l("A supervisor did not approve another reveal for now."),
    "choice": _l("Choose one of the options offered (%(field)s)."),
    "number": _l("%(field)s: a whole number from 1 to %(most)s."),
    "too_long": _l("The note is too long (at most %(n)s characters)."),
    "required": _l("%(field)s: this cannot be left empty."),
    "range": _l("The follow-up date must be within the coming year."),
    "date": _l("The follow-up date must be a date (YYYY-MM-DD)."),
    "already_open": _l("This request is open already; there is nothing to reopen."),
    "approval_missing": _l("There is no such request for approval."),
    "approval_decided": _l("This request for approval was already decided."),
    "approval_own": _l("Someone else must approve your own reveals."),
    "message_missing": _l("There is no such text message."),
    "inbox_status": _l("Choose one of the statuses offered."),
    "reply_empty": _l("Write a reply first."),
    "reply_bad": _l("The reply contains a character that cannot be sent."),
    "reply_long": _l("The reply is %(parts)s SMS parts; at most %(most)s. Shorten it."),
    "text_answered": _l("This text is already answered."),
    "text_dismissed": _l("This text is dismissed: it cannot be answered."),
    "text_handled": _l("This text is already handled (%(state)s)."),
    "text_attached": _l("This text is already on a request."),
    "text_not_new": _l("Only a new text can become a request."),
}
# The values an error carries as codes of their own (``lang="ar"``), and the table that
# names them.
VALUE_LABELS: dict[str, Mapping[str, object]] = {"lang": LANGUAGE, "status": STATUS,
                                                 "state": INBOX, "field": FIELD}
BROADCAST_ACTION = {"pause": _l("Pause"), "resume": _l("Resume"), "cancel": _l("Cancel")}
# What an audit entry is about ("broadcast:3"), as a reader names it; the number stays.
TARGET = {"broadcast": _l("Alert A%(id)s"), "leader": _l("Leader no. %(id)s"),
          "staff_user": _l("Staff account no. %(id)s"),
          "callback_request": _l("Request no. %(id)s"),
          "inbound_sms": _l("Text message no. %(id)s")}
UI_LANGUAGE = {"ar": "العربية", "en": "English"}  # each in its own language


def safe_time(code: str, windows: Mapping[str, object]) -> str:
    """A safe-time window with its hours from ``[callbacks.windows]`` ("Late afternoon
    (15:00-18:00)"): the caller chose from labels that showed the hours, and a word alone
    ("evening") would send staff to call at the wrong time."""
    hours = windows.get(code)
    return f"{label(SAFE_TIMES, code)} ({hours})" if hours else label(SAFE_TIMES, code)


def error(exc: Exception) -> str:
    """A service's refusal in the page's language, its coded values (a language, a status,
    a form field) by their labels. The services raise it with a ``code`` and English for
    the logs, and import no Flask; an error without a label reads as raised, so nothing is
    hidden (and ``tests/test_staff_errors.py`` fails)."""
    template = getattr(exc, "template", None)
    if isinstance(template, str):  # written with N_ where it is raised (staff accounts)
        return gettext(template, **getattr(exc, "values", {}))
    code = getattr(exc, "code", "")
    said = (ALERT_ERROR.get(code) or SERVICE_ERROR.get(code)) if isinstance(code, str) else None
    if said is None:
        return str(exc)
    values = dict(getattr(exc, "values", {}))
    for name, table in VALUE_LABELS.items():
        if name in values:
            values[name] = label(table, str(values[name]))
    return str(said) % values


def target(stored: str | None) -> str:
    """An audit entry's target in the page's language ("Alert A3" for "broadcast:3");
    one of an unknown kind is shown as stored, "—" when there is none."""
    kind, _, number = (stored or "").partition(":")
    if not stored:
        return "—"
    if kind not in TARGET or not number.isdigit():
        return stored
    return str(TARGET[kind]) % {"id": number}


def label(table: Mapping[str, object], code: str | None) -> str:
    """The label of ``code`` in the page's language, or the code itself; None reads "—"."""
    if code is None or code == "":
        return "—"
    return str(table.get(code, code))
