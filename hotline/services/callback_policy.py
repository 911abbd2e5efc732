"""Callback requests: the rules every part follows.

The vocabulary (reasons, statuses, attempt results, outcomes), the errors staff
actions raise, and the ``[callbacks]`` settings (working week, callers' safe
windows, deadlines, retry backoff, claim and reveal limits); with the clock and
the timeline helpers the caller side (``caller_requests``) and the staff side
(``casework``) share. Nothing here changes a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import current_app

from hotline.errors import CodedError, ConfigError
from hotline.extensions import db
from hotline.models import CallbackEvent
from hotline.worktime import WorktimeError, WorkWeek

# --- vocabulary ------------------------------------------------------------------------------

REASONS = ("danger", "medical", "counselling", "avrr", "info", "resettlement", "other",
           "unknown")  # unknown: a missed call, nobody said why yet
CHANNELS = ("ussd", "missed_call", "sms")
STATUSES = ("open", "resolved", "unreachable", "withdrawn")
SAFE_TO_CALL = ("yes", "times", "unknown")  # unknown: a missed call, nobody asked
ATTEMPT_RESULTS = ("reached", "no_answer", "busy", "wrong_number", "not_safe")
RETRY_RESULTS = ("no_answer", "busy", "not_safe")  # the claim is released, a retry scheduled
UNANSWERED = ("no_answer", "busy")  # these count towards "unreachable"
# An unanswered try logged before the retry was due, and not confirmed: kept on the
# timeline, never counted (four clicks in a minute must not close a request).
UNCOUNTED = "_early"
REOPENABLE = ("resolved", "unreachable")  # withdrawn: the caller left; nobody calls them again
OUTCOMES = ("helped", "information_given", "referred", "appointment_made", "declined",
            "wrong_number", "duplicate", "other")
REFERRALS = ("counselling", "medical", "avrr", "protection", "other", "none")
URGENT, NORMAL = 0, 1
REF_ALPHABET = "23456789"  # read aloud in any language; no 0/O or 1/I/l to confuse
NOTE_MAX = 2000


# --- errors ----------------------------------------------------------------------------------

class CallbackError(CodedError):
    """A staff action on a callback request that cannot be done; the message says why (in
    English, for logs) and ``code`` names it for the dashboard (``hotline.staff.labels``)."""


class RequestNotFound(CallbackError):
    code = "request_missing"

    def __init__(self, request_id: object) -> None:
        super().__init__(f"no callback request {request_id!r}")


class RequestClosed(CallbackError):
    code = "request_closed"

    def __init__(self, ref: str, status: str) -> None:
        self.ref, self.status = ref, status
        super().__init__(f"request {ref} is already {status}", status=status)


class ClaimConflict(CallbackError):
    """Someone else holds the claim; ``holder`` is their name (or e-mail)."""

    code = "claim_conflict"

    def __init__(self, ref: str, holder: str, expires_at: datetime | None) -> None:
        self.ref, self.holder, self.expires_at = ref, holder, expires_at
        super().__init__(f"request {ref} is being handled by {holder}", holder=holder)


class NotHolder(CallbackError):
    """Only the staff member holding a live claim may do this."""

    code = "not_holder"

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(f"claim request {ref} first: only the person holding it may do this")


class InvalidChoice(CallbackError):
    """A value outside its vocabulary (reason, result, outcome...) or a note too long.

    ``field`` and ``problem`` name it for a translated message: ``(what, "choice")``
    for a value outside its vocabulary, or ``"too_long"``, ``"missing"``, ``"range"``;
    the problem is the error's ``code``, the field one of its ``values``.
    """

    def __init__(self, message: str, field: str, problem: str, **values: object) -> None:
        self.field, self.problem = field, problem
        super().__init__(message, problem, field=field, **values)


class UnknownStaff(CallbackError):
    """The staff member does not exist or is not active."""

    code = "staff_unknown"


class EarlyAttempt(CallbackError):
    """An unanswered try before the scheduled retry: staff must say whether it counts."""

    code = "early"

    def __init__(self, ref: str, due_at: datetime) -> None:
        self.ref, self.due_at = ref, due_at
        super().__init__(f"the next try of request {ref} is not due yet")


# --- settings --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The ``[callbacks]`` section, parsed once per app."""

    week: WorkWeek
    windows: Mapping[str, tuple[time, time]]
    urgent_reasons: frozenset[str]
    urgent_hours: timedelta
    normal_days: float
    claim: timedelta
    ring_window: timedelta
    retry: tuple[timedelta, ...]
    max_attempts: int
    max_claims: int  # claims one staff member may hold at once
    reveals_per_hour: int  # numbers one staff member may reveal per hour unapproved
    unreachable_days: int  # unanswered tries must spread over this many working days

    def schedule(self, safe_to_call: str, safe_times: str) -> WorkWeek:
        """When staff may call this caller: working hours, or the caller's chosen windows."""
        chosen = [self.windows[w] for w in safe_times.split(",") if w in self.windows]
        if safe_to_call == "times" and chosen:
            return self.week.with_spans(chosen)
        return self.week

    def deadline(self, created_at: datetime, priority: int, schedule: WorkWeek) -> datetime:
        amount = self.urgent_hours if priority == URGENT else schedule.day_length * self.normal_days
        return schedule.add(created_at, amount).astimezone(UTC)


def parse_settings(config: Mapping[str, Any]) -> Settings:
    """Settings from app config; every problem raises ``ConfigError`` listing them all.

    The values come from ``config/defaults.toml`` (and what overrides it); nothing is
    defaulted here, so a key missing there is reported, not silently filled in.
    """
    raw = dict(config.get("CALLBACKS") or {})
    problems: list[str] = []

    def number(key: str, whole: bool = True) -> float:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                or (whole and not isinstance(value, int)):
            problems.append(f"[callbacks] {key} must be a positive number, got {value!r}")
            return 1  # unused: the problems are raised below
        return value

    week = None
    windows: dict[str, tuple[time, time]] = {}
    try:
        week = WorkWeek.build(str(config.get("TIMEZONE")), raw["work_days"],
                              [raw["work_hours"]], raw["holidays"])
        for name, span in dict(raw["windows"]).items():
            windows[str(name)] = week.with_spans([span]).spans[0]
    except (WorktimeError, TypeError) as exc:
        problems.append(f"[callbacks] {exc}")
    except KeyError as exc:
        problems.append(f"[callbacks] {exc.args[0]} is missing")
    retry = raw.get("retry_minutes")
    if not isinstance(retry, list) or not retry or not all(
            isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in retry):
        problems.append(f"[callbacks] retry_minutes must be a list of positive whole minutes, "
                        f"got {retry!r}")
        retry = []
    urgent = raw.get("urgent_reasons")
    if not isinstance(urgent, list) or not set(urgent) <= set(REASONS):
        problems.append(f"[callbacks] urgent_reasons must be a list from {REASONS}")
        urgent = []
    settings: dict[str, Any] = dict(
        urgent_hours=timedelta(hours=number("urgent_hours", whole=False)),
        normal_days=number("normal_days", whole=False),
        claim=timedelta(minutes=number("claim_minutes")),
        ring_window=timedelta(minutes=number("ring_window_minutes")),
        max_attempts=int(number("max_attempts")),
        max_claims=int(number("max_claims")),
        reveals_per_hour=int(number("reveals_per_hour")),
        unreachable_days=int(number("unreachable_days")),
    )
    if problems or week is None:
        raise ConfigError(problems)
    return Settings(week=week, windows=windows, urgent_reasons=frozenset(urgent),
                    retry=tuple(timedelta(minutes=m) for m in retry), **settings)


def settings() -> Settings:
    """This app's callback settings (parsed on first use, then kept with the app)."""
    ext = current_app.extensions
    if "hotline.callbacks" not in ext:
        ext["hotline.callbacks"] = parse_settings(current_app.config)
    return ext["hotline.callbacks"]


# --- helpers ---------------------------------------------------------------------------------

def utc(at: datetime | None) -> datetime | None:
    """Aware UTC; SQLite (development) hands back naive datetimes that are UTC already."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def clock() -> datetime:
    """The current time in UTC; tests replace it to stand on a chosen Thursday afternoon."""
    return datetime.now(UTC)


def now_utc(now: datetime | None = None) -> datetime:
    """``now`` as aware UTC, or the clock's time when not given."""
    return utc(now) if now is not None else clock()  # type: ignore[return-value]



def _event(request_id: int, kind: str, at: datetime, staff_id: int | None = None,
           detail: str = "", note: str = "") -> None:
    db.session.add(CallbackEvent(request_id=request_id, kind=kind, at=at, staff_id=staff_id,
                                 detail=detail[:200], note=note))


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidChoice(f"{what} must be one of {', '.join(allowed)}, got {value!r}"[:300],
                            what, "choice")
    return value


def _note(note: str | None) -> str:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidChoice(f"note is too long ({len(text)} characters, at most {NOTE_MAX})",
                            "note", "too_long")
    return text

