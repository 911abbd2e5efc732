"""One callback request: its details, timeline and caller history, and what staff do with it.

Views only translate: form fields go to ``hotline.services.casework``, which
decides who may do what (only the claim holder reveals and logs calls) and
writes the timeline and audit log; its refusals come back as the request page
with the reason and a fitting status (403 not the holder, 409 someone else
holds it or it is closed, 400 a bad choice). Every accepted POST answers with a
redirect (post/redirect/get): a reload shows the page again and repeats nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from hotline.privacy import mask_numbers
from hotline.services import callback_policy, casework, reveals
from hotline.services.callback_policy import (
    REASONS,
    CallbackError,
    ClaimConflict,
    EarlyAttempt,
    InvalidChoice,
    NotHolder,
    RequestClosed,
    RequestNotFound,
    UnknownStaff,
    settings,
)
from hotline.services.casework import CallRecord
from hotline.services.worklist import TimelineEvent, get_request, next_candidates
from hotline.staff import bp, labels, local_time, users
from hotline.staff.auth import requires

MAX_ID = 2**31 - 1  # the column is a PostgreSQL integer; anything larger is simply not there


def _id(value: int) -> int:
    if value > MAX_ID:
        abort(404)
    return value


def show(request_id: int, *, status: int = 200, error: str | None = None,
         early: EarlyAttempt | None = None) -> Any:
    """The request page; the full number only for the holder who revealed it."""
    try:
        detail = get_request(_id(request_id), current_user.id)
    except RequestNotFound:
        abort(404)
    staff = users.active_users() \
        if current_user.can("supervisor") and detail.item.status == "open" else []
    languages = tuple(current_app.extensions["hotline.catalog"].languages)
    return render_template("staff/request.html", detail=detail, item=detail.item,
                           error=error, phone=detail.phone, staff=staff, form=request.form,
                           early=early, results=callback_policy.ATTEMPT_RESULTS,
                           outcomes=callback_policy.OUTCOMES, referrals=callback_policy.REFERRALS,
                           reasons=REASONS[:-1], languages=languages,
                           note_max=callback_policy.NOTE_MAX,
                           claim_minutes=int(settings().claim.total_seconds() // 60),
                           describe=describe), status


def describe(event: TimelineEvent) -> str:
    """An event's detail as staff read it: labels for codes, local time for UTC stamps."""
    if event.kind == "attempt":
        return labels.label(labels.RESULT, event.detail)
    if event.kind == "rescheduled":
        try:
            at = datetime.strptime(event.detail, "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
        except ValueError:
            return event.detail
        return _("from %(at)s", at=local_time(at))
    if event.kind == "resolved":
        outcome, _sep, rest = event.detail.partition("; referral: ")
        referral, _sep, follow = rest.partition("; follow-up ")
        said = f"{labels.label(labels.OUTCOME, outcome)} · " \
               f"{labels.label(labels.REFERRAL, referral or None)}"
        return said + (" · " + _("follow-up on %(day)s", day=follow) if follow else "")
    if event.kind in ("created", "details"):
        channel, _sep, rest = event.detail.partition(": ")
        reason, _sep, language = rest.partition(", ")
        parts = [labels.label(labels.CHANNEL, channel)] if channel in labels.CHANNEL else []
        if reason:
            parts.append(labels.label(labels.REASON, reason))
        if language:
            parts.append(labels.label(labels.LANGUAGE, language))
        return " · ".join(parts) if parts else labels.label(labels.CHANNEL, event.detail)
    if event.kind == "linked":
        return _("Earlier request %(ref)s", ref=event.detail)
    if event.kind in ("reassigned", "unreachable", "ring", "updated", "withdrawn", "reopened",
                      "claimed"):
        return ""  # the event's label says it; the detail is for the database
    return event.detail


def refused(request_id: int, exc: Exception) -> Any:
    """The request page again, saying why the action was refused."""
    if isinstance(exc, RequestNotFound):
        abort(404)
    if isinstance(exc, ClaimConflict):
        if exc.expires_at:
            said = _("%(holder)s is handling this request until %(until)s.",
                     holder=exc.holder, until=local_time(exc.expires_at, "%H:%M"))
        else:
            said = _("%(holder)s is handling this request.", holder=exc.holder)
        return show(request_id, status=409,
                    error=said + " " + _("Pick another one, or ask a supervisor to reassign it."))
    if isinstance(exc, NotHolder):
        return show(request_id, status=403,
                    error=_("Claim this request first: only the person holding it may do this."))
    if isinstance(exc, RequestClosed):
        return show(request_id, status=409,
                    error=_("This request is already %(status)s.",
                            status=labels.label(labels.STATUS, exc.status)))
    if isinstance(exc, reveals.ClaimLimit):
        return show(request_id, status=409,
                    error=_("You already hold %(n)s requests, the most one person may. "
                            "Finish or release one first.", n=exc.held))
    if isinstance(exc, reveals.RevealLimit):
        if exc.refused:
            return show(request_id, status=403,
                        error=_("A supervisor did not approve another reveal for now."))
        return show(request_id, status=429,
                    error=_("You revealed %(n)s numbers in the last hour, the most without "
                            "approval. A supervisor has been asked; press Reveal again once "
                            "they approve.", n=exc.limit))
    if isinstance(exc, EarlyAttempt):
        return show(request_id, status=409, early=exc)
    if isinstance(exc, InvalidChoice):
        return show(request_id, status=400, error=invalid_message(exc))
    return show(request_id, status=400, error=str(exc))


def invalid_message(exc: InvalidChoice) -> str:
    """What was wrong with the form, in the page's language."""
    said = {
        ("outcome", "missing"): _("Say what came of the call: choose an outcome."),
        ("follow_up", "range"): _("The follow-up date must be within the coming year."),
        ("note", "too_long"): _("The note is too long (at most %(n)s characters).",
                                n=callback_policy.NOTE_MAX),
        ("reason", "missing"): _("Say why the request is reopened."),
    }.get((exc.field, exc.problem))
    if said is None and exc.problem == "choice":
        said = _("Choose one of the options offered (%(field)s).",
                 field=labels.label(labels.FIELD, exc.field))
    return said or str(exc)


def _warn_if_number(note: str) -> None:
    if mask_numbers(note)[1]:
        flash(_("Your note seems to contain a phone number: it is shown masked. Keep numbers "
                "out of notes; the caller's number is on the request."))


ERRORS = (ClaimConflict, NotHolder, RequestClosed, RequestNotFound, InvalidChoice, UnknownStaff,
          EarlyAttempt, reveals.ClaimLimit, reveals.RevealLimit)


def _back(request_id: int) -> Any:
    return redirect(url_for("staff.request_page", request_id=request_id), 303)


@bp.get("/requests/<int:request_id>")
def request_page(request_id: int) -> Any:
    return show(request_id)


@bp.post("/requests/<int:request_id>/claim")
def claim(request_id: int) -> Any:
    try:
        casework.claim(_id(request_id), current_user.id)
    except ERRORS as exc:
        return refused(request_id, exc)
    return _back(request_id)


@bp.post("/next")
def next_request() -> Any:
    """Claim the most urgent request anyone may call now and nobody holds."""
    for candidate in next_candidates(current_user.id):
        try:
            casework.claim(candidate, current_user.id)
        except (ClaimConflict, RequestClosed, RequestNotFound):
            continue  # someone was quicker; take the next one
        except UnknownStaff:
            abort(403)
        except reveals.ClaimLimit as exc:
            flash(_("You already hold %(n)s requests, the most one person may. "
                    "Finish or release one first.", n=exc.held))
            return redirect(url_for("staff.queue"), 303)
        except CallbackError as exc:  # e.g. a limit on claims held at once: say so
            flash(str(exc))
            return redirect(url_for("staff.queue"), 303)
        return _back(candidate)
    flash(_("Nothing can be called right now: every open request is waiting or held."))
    return redirect(url_for("staff.queue"), 303)


@bp.post("/requests/<int:request_id>/release")
def release(request_id: int) -> Any:
    try:
        casework.release(_id(request_id), current_user.id)
    except ERRORS as exc:
        return refused(request_id, exc)
    flash(_("Released: the request is back in the queue."))
    return redirect(url_for("staff.queue"), 303)


@bp.post("/requests/<int:request_id>/reveal")
def reveal(request_id: int) -> Any:
    try:
        casework.reveal_phone(_id(request_id), current_user.id)
    except ERRORS as exc:
        return refused(request_id, exc)
    return redirect(url_for("staff.request_page", request_id=request_id, _anchor="phone"), 303)


def _choice(name: str) -> str | None:
    return (request.form.get(name) or "").strip()[:40] or None


def _record() -> CallRecord:
    """The call record form as a ``CallRecord``; a malformed date is an ``InvalidChoice``."""
    follow = _choice("follow_up")
    try:
        follow_up = date.fromisoformat(follow) if follow else None
    except ValueError:
        raise InvalidChoice(str(_("The follow-up date must be a date (YYYY-MM-DD).")),
                            "follow_up", "date") from None
    confirm = {"count": True, "skip": False}.get(request.form.get("confirm") or "")
    return CallRecord(result=request.form.get("result", "")[:40], outcome=_choice("outcome"),
                      referral=_choice("referral"), follow_up=follow_up,
                      reason=_choice("reason"), language=_choice("language"),
                      note=request.form.get("note", ""), confirm_early=confirm)


@bp.post("/requests/<int:request_id>/attempt")
def attempt(request_id: int) -> Any:
    """The one call record: the attempt, and when reached how the request closes."""
    try:
        record = _record()
        languages = tuple(current_app.extensions["hotline.catalog"].languages)
        done = casework.record_call(_id(request_id), current_user.id, record,
                                     languages=languages)
    except ERRORS as exc:
        return refused(request_id, exc)
    _warn_if_number(record.note)
    said = labels.label(labels.RESULT, record.result)
    if done.status == "resolved":
        flash(_("Request %(ref)s closed.", ref=done.ref))
        return redirect(url_for("staff.queue"), 303)
    if done.status == "unreachable":
        flash(_("%(said)s logged. No answer after %(n)s attempts on different days: "
                "marked unreachable.", said=said, n=done.attempts))
    elif done.next_attempt_at is not None:
        flash(_("%(said)s logged. Next attempt from %(at)s; the request is back in the queue.",
                said=said, at=local_time(done.next_attempt_at)))
    else:
        flash(_("%(said)s logged.", said=said))
    return _back(request_id)


@bp.post("/requests/<int:request_id>/resolve")
def resolve(request_id: int) -> Any:
    try:
        casework.resolve(_id(request_id), current_user.id, request.form.get("outcome", ""),
                          request.form.get("referral", ""), request.form.get("note", ""))
    except ERRORS as exc:
        return refused(request_id, exc)
    detail = get_request(request_id, current_user.id)
    _warn_if_number(request.form.get("note", ""))
    flash(_("Request %(ref)s closed.", ref=detail.item.ref))
    return redirect(url_for("staff.queue"), 303)


@bp.post("/requests/<int:request_id>/reassign")
@requires("supervisor")
def reassign(request_id: int) -> Any:
    target = (request.form.get("staff_id") or "").strip()
    if not target.isascii() or not target.isdigit() or len(target) > 10 \
            or int(target) > MAX_ID:
        return show(request_id, status=400, error=_("Choose a staff member to give it to."))
    try:
        casework.reassign(_id(request_id), current_user.id, int(target))
    except ERRORS as exc:
        return refused(request_id, exc)
    flash(_("Reassigned."))
    return _back(request_id)


@bp.post("/requests/<int:request_id>/reopen")
@requires("supervisor")
def reopen(request_id: int) -> Any:
    try:
        casework.reopen(_id(request_id), current_user.id, request.form.get("reason", ""))
    except ERRORS as exc:
        return refused(request_id, exc)
    flash(_("Reopened: the request is back in the queue."))
    return _back(request_id)
