"""Signing staff in and out, and who may see what.

A sign-in is a random id kept in the KV store (Redis) with an idle timeout, so
signing out, a password change or switching an account off ends the session on
the server at once, not when a cookie expires. Failed sign-ins lock the account
for a while after ``lockout_failures`` in a row, and each client address gets
``ip_failures`` per window; the page never says which of these, or whether the
email exists, and an unknown email costs the same hashing time as a known one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import update

from hotline.extensions import db, login_manager
from hotline.models import StaffUser
from hotline.staff import bp, passwords, users
from hotline.store import Store

log = logging.getLogger(__name__)

FAILED = ("Sign-in failed. Check your email and password. After repeated failures "
          "sign-in is paused for a while; an admin can help.")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind this request (what Flask-Login calls the user)."""

    id: int
    email: str
    name: str
    role: str
    sid: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.sid}"

    @property
    def label(self) -> str:
        return self.name or self.email

    def can(self, role: str) -> bool:
        return users.RANK[self.role] >= users.RANK[role]


def _store() -> Store:
    return current_app.extensions["hotline.store"]


def _settings() -> dict[str, Any]:
    return current_app.config["STAFF"]


def _fingerprint(user: StaffUser) -> str:
    """Changes with the password hash: a new password ends every older sign-in."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _session_key(sid: str) -> str:
    return f"staff:signin:{sid}"


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    staff_id, _, sid = user_id.partition(":")
    if not staff_id.isdigit() or not sid:
        return None
    store = _store()
    stored = store.get(_session_key(sid))
    user = db.session.get(StaffUser, int(staff_id))
    if stored is None or user is None or not user.active or user.role not in users.RANK \
            or stored.decode() != f"{user.id}:{_fingerprint(user)}":
        return None
    store.set(_session_key(sid), stored, _settings()["idle_minutes"] * 60)
    return SignedIn(user.id, user.email, user.name, user.role, sid)


def _signed_in(user: StaffUser) -> None:
    sid = secrets.token_urlsafe(24)
    _store().set(_session_key(sid), f"{user.id}:{_fingerprint(user)}".encode(),
                 _settings()["idle_minutes"] * 60)
    session.clear()  # a fresh session (and CSRF token): nothing fixed before sign-in survives
    login_user(SignedIn(user.id, user.email, user.name, user.role, sid), remember=False)


# --- throttling --------------------------------------------------------------------------

def _ip_slots() -> tuple[list[str], int]:
    """Keys of this client's failure slots in the current window; each failure takes one.

    Slots are claimed with SET NX, so concurrent failures cannot share a slot
    and the count never undercounts, without needing an INCR on the store.
    """
    cfg = _settings()
    window = cfg["ip_window_minutes"] * 60
    ip = request.remote_addr or "unknown"
    prefix = f"staff:signin-fail:{hashlib.sha256(ip.encode()).hexdigest()[:20]}:" \
             f"{int(time.time() // window)}"
    return [f"{prefix}:{n}" for n in range(cfg["ip_failures"])], window


def ip_blocked() -> bool:
    slots, _ = _ip_slots()
    return _store().get(slots[-1]) is not None


def _ip_failed() -> None:
    slots, window = _ip_slots()
    store = _store()
    for key in slots:
        if store.add(key, b"1", window):
            return


def _account_failed(user: StaffUser, now: datetime) -> None:
    cfg = _settings()
    count = db.session.execute(
        update(StaffUser).where(StaffUser.id == user.id)
        .values(failed_logins=StaffUser.failed_logins + 1)
        .returning(StaffUser.failed_logins)).scalar_one()
    if count >= cfg["lockout_failures"]:
        db.session.execute(update(StaffUser).where(StaffUser.id == user.id).values(
            failed_logins=0, locked_until=now + timedelta(minutes=cfg["lockout_minutes"])))
        users.audit(None, "staff_locked", user, f"{count} failed sign-ins")
        log.warning("staff account %s locked after %d failed sign-ins", user.id, count)
    db.session.commit()


def check_credentials(email: str, password: str, now: datetime | None = None
                      ) -> StaffUser | None:
    """The account these credentials open, or None; failures are counted either way."""
    now = now or datetime.now(UTC)
    user = users.find(email) if len(email) <= users.EMAIL_MAX else None
    if user is None:
        passwords.verify_unknown(password)
        _ip_failed()
        return None
    good = passwords.verify(user.password_hash, password)
    if users.locked(user, now):
        _ip_failed()
        return None
    if not good or not user.active:
        _account_failed(user, now)
        _ip_failed()
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    users.audit(user.id, "staff_login", user)
    db.session.commit()
    return user


# --- access ------------------------------------------------------------------------------

def requires(role: str) -> Callable[[F], F]:
    """Only staff of ``role`` or above; anyone else gets 403."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path on this site, never elsewhere."""
    default = url_for("staff.queue")
    if not target or len(target) > 500 or "\\" in target or not target.isprintable():
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/staff/") \
            or target.startswith("//"):
        return default
    return target


# --- views -------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("staff.queue"))
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("staff/login.html", next_url=next_url, email="")
    email = request.form.get("email", "")[:300]
    password = request.form.get("password", "")
    if ip_blocked():
        log.warning("staff sign-in throttled for a client address")
        response = current_app.make_response(
            (render_template("staff/login.html", next_url=next_url, email=email,
                             error=FAILED), 429))
        response.headers["Retry-After"] = str(_settings()["ip_window_minutes"] * 60)
        return response
    user = check_credentials(email, password)
    if user is None:
        return render_template("staff/login.html", next_url=next_url, email=email, error=FAILED)
    _signed_in(user)
    return redirect(next_url, 303)


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:
        _store().delete(_session_key(current_user.sid))
    logout_user()
    session.clear()
    return redirect(url_for("staff.login"), 303)


@bp.route("/account", methods=["GET", "POST"])
def account() -> Any:
    """Change one's own password (the current one is asked again)."""
    if request.method == "GET":
        return render_template("staff/account.html")
    user = users.get(current_user.id)
    current = request.form.get("current", "")
    new = request.form.get("new", "")
    if not passwords.verify(user.password_hash, current):
        # guessing the password from a borrowed session counts like failed sign-ins
        _account_failed(user, datetime.now(UTC))
        db.session.refresh(user)
        if users.locked(user):
            return logout()
        return render_template("staff/account.html", error="The current password is wrong."), 400
    if new != request.form.get("repeat", ""):
        return render_template("staff/account.html",
                               error="The two new passwords are not the same."), 400
    try:
        users.set_password(user.id, new, by=user.id)
    except users.UserError as exc:
        return render_template("staff/account.html", error=str(exc)), 400
    _store().delete(_session_key(current_user.sid))
    _signed_in(users.get(user.id))  # the change ended every session, this one included
    return render_template("staff/account.html", message="Your password was changed.")
