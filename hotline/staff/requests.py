"""One callback request: its details and timeline, and what staff do with it.

Views only translate: form fields go to ``hotline.services.callbacks``, which
decides who may do what (only the claim holder reveals, logs and resolves) and
writes the timeline and audit log; its refusals come back as the request page
with the reason and a fitting status (403 not the holder, 409 someone else
holds it or it is closed, 400 a bad choice).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from hotline.privacy import mask_numbers
from hotline.services import callbacks, reveals
from hotline.services.callbacks import (
    ClaimConflict,
    InvalidChoice,
    NotHolder,
    RequestClosed,
    RequestNotFound,
    UnknownStaff,
)
from hotline.services.queue import TimelineEvent, get_request
from hotline.staff import bp, labels, local_time, users
from hotline.staff.auth import requires

MAX_ID = 2**31 - 1  # the column is a PostgreSQL integer; anything larger is simply not there


def _id(value: int) -> int:
    if value > MAX_ID:
        abort(404)
    return value


def show(request_id: int, *, status: int = 200, error: str | None = None,
         phone: str | None = None) -> Any:
    """The request page; ``phone`` only in the answer to the holder's Reveal."""
    try:
        detail = get_request(_id(request_id), current_user.id)
    except RequestNotFound:
        abort(404)
    staff = users.active_users() \
        if current_user.can("supervisor") and detail.item.status == "open" else []
    return render_template("staff/request.html", detail=detail, item=detail.item,
                           error=error, phone=phone, staff=staff, form=request.form,
                           results=callbacks.ATTEMPT_RESULTS, outcomes=callbacks.OUTCOMES,
                           referrals=callbacks.REFERRALS, note_max=callbacks.NOTE_MAX,
                           claim_minutes=int(callbacks.settings().claim.total_seconds() // 60),
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
        return f"from {local_time(at)}"
    return event.detail


def refused(request_id: int, exc: Exception) -> Any:
    """The request page again, saying why the action was refused."""
    if isinstance(exc, RequestNotFound):
        abort(404)
    if isinstance(exc, ClaimConflict):
        until = f" until {local_time(exc.expires_at, '%H:%M')}" if exc.expires_at else ""
        return show(request_id, status=409,
                    error=f"{exc.holder} is handling this request{until}. "
                          f"Pick another one, or ask a supervisor to reassign it.")
    if isinstance(exc, NotHolder):
        return show(request_id, status=403,
                    error="Claim this request first: only the person holding it may do this.")
    if isinstance(exc, RequestClosed):
        return show(request_id, status=409,
                    error=f"This request is already {labels.label(labels.STATUS, exc.status)}.")
    if isinstance(exc, reveals.ClaimLimit):
        return show(request_id, status=409,
                    error=f"You already hold {exc.held} requests, the most one person may. "
                          f"Finish or release one first.")
    if isinstance(exc, reveals.RevealLimit):
        if exc.refused:
            return show(request_id, status=403,
                        error="A supervisor did not approve another reveal for now.")
        return show(request_id, status=429,
                    error=f"You revealed {exc.limit} numbers in the last hour, the most "
                          f"without approval. A supervisor has been asked; press Reveal "
                          f"again once they approve.")
    return show(request_id, status=400, error=str(exc))


def _warn_if_number(note: str) -> None:
    if mask_numbers(note)[1]:
        flash("Your note seems to contain a phone number: it is shown masked. Keep numbers "
              "out of notes; the caller's number is on the request.")


ERRORS = (ClaimConflict, NotHolder, RequestClosed, RequestNotFound, InvalidChoice, UnknownStaff,
          reveals.ClaimLimit, reveals.RevealLimit)


@bp.get("/requests/<int:request_id>")
def request_page(request_id: int) -> Any:
    return show(request_id)


@bp.post("/requests/<int:request_id>/claim")
def claim(request_id: int) -> Any:
    try:
        callbacks.claim(_id(request_id), current_user.id)
    except ERRORS as exc:
        return refused(request_id, exc)
    return redirect(url_for("staff.request_page", request_id=request_id), 303)


@bp.post("/requests/<int:request_id>/release")
def release(request_id: int) -> Any:
    try:
        callbacks.release(_id(request_id), current_user.id)
    except ERRORS as exc:
        return refused(request_id, exc)
    flash("Released: the request is back in the queue.")
    return redirect(url_for("staff.queue"), 303)


@bp.post("/requests/<int:request_id>/reveal")
def reveal(request_id: int) -> Any:
    try:
        phone = callbacks.reveal_phone(_id(request_id), current_user.id)
    except ERRORS as exc:
        return refused(request_id, exc)
    return show(request_id, phone=phone)


@bp.post("/requests/<int:request_id>/attempt")
def attempt(request_id: int) -> Any:
    result = request.form.get("result", "")
    try:
        done = callbacks.log_attempt(_id(request_id), current_user.id, result,
                                     request.form.get("note", ""))
    except ERRORS as exc:
        return refused(request_id, exc)
    _warn_if_number(request.form.get("note", ""))
    said = labels.label(labels.RESULT, result)
    if done.status == "unreachable":
        flash(f"{said} logged. No answer after {done.attempts} attempts: marked unreachable.")
    elif done.next_attempt_at is not None:
        flash(f"{said} logged. Next attempt from {local_time(done.next_attempt_at)}; "
              f"the request is back in the queue.")
    else:
        flash(f"{said} logged. You still hold the request: resolve it when done.")
    return redirect(url_for("staff.request_page", request_id=request_id), 303)


@bp.post("/requests/<int:request_id>/resolve")
def resolve(request_id: int) -> Any:
    try:
        callbacks.resolve(_id(request_id), current_user.id, request.form.get("outcome", ""),
                          request.form.get("referral", ""), request.form.get("note", ""))
    except ERRORS as exc:
        return refused(request_id, exc)
    detail = get_request(request_id, current_user.id)
    _warn_if_number(request.form.get("note", ""))
    flash(f"Request {detail.item.ref} resolved.")
    return redirect(url_for("staff.queue"), 303)


@bp.post("/requests/<int:request_id>/reassign")
@requires("supervisor")
def reassign(request_id: int) -> Any:
    target = (request.form.get("staff_id") or "").strip()
    if not target.isascii() or not target.isdigit() or len(target) > 10 \
            or int(target) > MAX_ID:
        return show(request_id, status=400, error="Choose a staff member to give it to.")
    try:
        callbacks.reassign(_id(request_id), current_user.id, int(target))
    except ERRORS as exc:
        return refused(request_id, exc)
    flash("Reassigned.")
    return redirect(url_for("staff.request_page", request_id=request_id), 303)
