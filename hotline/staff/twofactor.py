"""Setting up and removing one's second factor (TOTP).

The new secret waits in the server-side store (ten minutes) until a code from
the app confirms it; only then is it saved, and the QR code is never shown
again. Recovery codes are shown once, on the page the confirmation redirects to.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from hotline.extensions import db
from hotline.models import StaffUser
from hotline.services.callback_policy import now_utc
from hotline.staff import bp, passwords, totp, users
from hotline.staff.auth import _account_failed, _failed, _store, second_factor_required

ENROL_SECONDS = 600


def _enrol_key() -> str:
    return f"staff:totp-enrol:{current_user.sid}"


def _codes_key() -> str:
    return f"staff:totp-codes:{current_user.sid}"


def _page(status: int = 200, **extra: Any) -> Any:
    user = users.get(current_user.id)
    codes_left = len([h for h in user.recovery_codes.split(",") if h])
    return render_template("staff/two_factor.html", user=user, codes_left=codes_left,
                           required=second_factor_required(user), **extra), status


@bp.get("/account/second-factor")
def two_factor() -> Any:
    return _page()


@bp.post("/account/second-factor/start")
def two_factor_start() -> Any:
    secret = totp.new_secret()
    _store().set(_enrol_key(), secret.encode(), ENROL_SECONDS)
    return redirect(url_for("staff.two_factor_enrol"), 303)


def _enrol_page(secret: str, status: int = 200, error: str | None = None) -> Any:
    return render_template("staff/two_factor_enrol.html", secret=secret, error=error,
                           qr=totp.qr_svg(totp.uri(secret, current_user.email))), status


@bp.get("/account/second-factor/enrol")
def two_factor_enrol() -> Any:
    secret = _store().get(_enrol_key())
    if secret is None:
        return redirect(url_for("staff.two_factor"), 303)
    return _enrol_page(secret.decode())


@bp.post("/account/second-factor/confirm")
def two_factor_confirm() -> Any:
    secret = _store().get(_enrol_key())
    if secret is None:
        return _page(400, error=_("Setting up took too long: start again."))
    step = totp.verify(secret.decode(), request.form.get("code", "")[:40], None)
    if step is None:
        return _enrol_page(secret.decode(), 400, _("That code did not match: check the app and "
                                                   "try the newest code."))
    user = users.get(current_user.id)
    codes = totp.new_recovery_codes()
    user.totp_secret, user.totp_last_step = secret.decode(), step
    user.totp_enabled_at = datetime.now(UTC)
    user.recovery_codes = totp.store_codes(codes)
    users.audit(user.id, "staff_totp_on", user)
    db.session.commit()
    _store().delete(_enrol_key())
    _store().set(_codes_key(), json.dumps(codes).encode(), ENROL_SECONDS)
    return redirect(url_for("staff.two_factor_codes"), 303)


@bp.get("/account/second-factor/codes")
def two_factor_codes() -> Any:
    """The recovery codes, once: the stored copy is deleted as the page is made."""
    raw = _store().get(_codes_key())
    _store().delete(_codes_key())
    if raw is None:
        return redirect(url_for("staff.two_factor"), 303)
    return render_template("staff/two_factor_codes.html", codes=json.loads(raw))


@bp.post("/account/second-factor/off")
def two_factor_off() -> Any:
    user = users.get(current_user.id)
    if user.totp_enabled_at is None:
        abort(409)
    if second_factor_required(user):
        return _page(403, error=_("Your role must use a second factor: it cannot be switched "
                                  "off. An admin can reset it if you lost your phone."))
    if not passwords.verify(user.password_hash, request.form.get("current", "")):
        _account_failed(user, now_utc())
        _failed(user, "wrong password when removing the second factor")
        return _page(400, error=_("The password is wrong."))
    clear(user)
    users.audit(user.id, "staff_totp_off", user)
    db.session.commit()
    return redirect(url_for("staff.two_factor"), 303)


def clear(user: StaffUser) -> None:
    """Forget a user's second factor (theirs to set up again)."""
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    user.recovery_codes = ""
