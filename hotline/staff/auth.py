"""Signing staff in and out, and who may see what.

A sign-in is a random id kept in the KV store (Redis) with an idle timeout and
an absolute lifetime, so signing out, a password change or switching an account
off ends the session on the server at once, not when a cookie expires. Its
stored fingerprint changes with the password hash and the account's session
epoch (raised when the account is switched off), so a re-enabled account does
not revive old sessions. The queue's own auto-refresh does not count as use.

Throttling, per account and per address: failed sign-ins pause the account
after ``lockout_failures`` in a row; each client address gets ``ip_failures``
per window, set high enough that one shared office address (NAT) is not locked
out by a few forgetful colleagues. The address is ``remote_addr``, which is the
client's own only behind ``HOTLINE_PROXY_HOPS`` trusted proxies (ProxyFix); a
raw ``X-Forwarded-For`` is never read. The page never says which limit was hit
or whether the email exists, and an unknown email costs the same hashing time.

With a second factor, the password step leaves a pending sign-in (in the
server-side store, five minutes) that only a valid TOTP or recovery code
completes.
"""

from __future__ import annotations

import hashlib
import json
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
from hotline.services.callback_policy import now_utc
from hotline.staff import bp, passwords, totp, users
from hotline.store import Store

log = logging.getLogger(__name__)

FAILED = ("Sign-in failed. Check your email and password. After repeated failures "
          "sign-in is paused for a while; an admin can help.")
CODE_FAILED = "That code did not work. Try the newest code, or one of your recovery codes."
AUTO_REFRESH = "X-Hotline-Auto-Refresh"  # sent by queue.js: not a sign of a person at work
PENDING_SECONDS = 300
TOTP_ROLES = ("supervisor", "admin")  # must use a second factor in production
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind this request (what Flask-Login calls the user)."""

    id: int
    email: str
    name: str
    role: str
    sid: str
    must_change_password: bool = False
    needs_second_factor: bool = False  # required (production, supervisor+) but not set up
    has_second_factor: bool = False

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
    """Changes with the password hash and the session epoch: either ends every sign-in."""
    text = f"{user.password_hash}:{user.session_epoch or 0}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _session_key(sid: str) -> str:
    return f"staff:signin:{sid}"


def second_factor_required(user: StaffUser | SignedIn) -> bool:
    """Supervisors and admins must use one in production (and wherever
    ``[staff] require_second_factor`` asks for it, e.g. a trial run)."""
    wanted = current_app.config.get("ENV") == "production" \
        or bool(_settings().get("require_second_factor"))
    return wanted and user.role in TOTP_ROLES


def _client_identifier() -> str:
    """Flask-Login's "strong" session protection: the address (ProxyFix's, never a raw
    X-Forwarded-For) and user agent a session was made with."""
    text = f"{request.remote_addr or ''}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha512(text.encode("utf-8", "replace")).hexdigest()


login_manager._session_identifier_generator = _client_identifier


def _signed_in_as(user: StaffUser, sid: str) -> SignedIn:
    return SignedIn(user.id, user.email, user.name, user.role, sid,
                    must_change_password=bool(user.must_change_password),
                    needs_second_factor=second_factor_required(user)
                    and user.totp_enabled_at is None,
                    has_second_factor=user.totp_enabled_at is not None)


@login_manager.user_loader
def load_user(user_id: str) -> SignedIn | None:
    staff_id, _, sid = user_id.partition(":")
    if not staff_id.isascii() or not staff_id.isdigit() or len(staff_id) > 10 or not sid:
        return None
    store = _store()
    key = _session_key(sid)
    try:
        stored = json.loads(store.get(key) or b"null")
    except ValueError:
        stored = None
    user = db.session.get(StaffUser, int(staff_id)) if int(staff_id) < 2**31 else None
    if not isinstance(stored, dict) or user is None or not user.active \
            or user.role not in users.RANK or stored.get("user") != user.id \
            or stored.get("fingerprint") != _fingerprint(user):
        return None
    cfg = _settings()
    if time.time() - float(stored.get("since", 0)) > cfg["session_hours"] * 3600:
        store.delete(key)  # the absolute lifetime: sign in again, however busy
        return None
    if not request.headers.get(AUTO_REFRESH):
        store.set(key, json.dumps(stored).encode(), cfg["idle_minutes"] * 60)
    return _signed_in_as(user, sid)


def _signed_in(user: StaffUser) -> None:
    """Start a sign-in: a fresh session id and cookie, audited."""
    sid = secrets.token_urlsafe(24)
    value = {"user": user.id, "fingerprint": _fingerprint(user), "since": time.time()}
    _store().set(_session_key(sid), json.dumps(value).encode(), _settings()["idle_minutes"] * 60)
    session.clear()  # a fresh session (and CSRF token): nothing fixed before sign-in survives
    login_user(_signed_in_as(user, sid), remember=False)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, datetime.now(UTC)
    users.audit(user.id, "staff_login", user,
                "with second factor" if user.totp_enabled_at else "")
    db.session.commit()


def end_session(sid: str) -> None:
    _store().delete(_session_key(sid))


# --- throttling --------------------------------------------------------------------------

def _ip_slots(now: datetime) -> tuple[list[str], int]:
    """Keys of this client's failure slots in the window ``now`` falls in; each failure
    takes one.

    Slots are claimed with SET NX, so concurrent failures cannot share a slot
    and the count never undercounts, without needing an INCR on the store. The
    window comes from the app's clock (``callback_policy.now_utc``), so tests
    stand inside one window or step over its end without waiting.
    """
    cfg = _settings()
    window = cfg["ip_window_minutes"] * 60
    ip = request.remote_addr or "unknown"
    prefix = f"staff:signin-fail:{hashlib.sha256(ip.encode()).hexdigest()[:20]}:" \
             f"{int(now.timestamp() // window)}"
    return [f"{prefix}:{n}" for n in range(cfg["ip_failures"])], window


def ip_blocked(now: datetime | None = None) -> bool:
    slots, _ = _ip_slots(now_utc(now))
    return _store().get(slots[-1]) is not None


def _ip_failed(now: datetime) -> None:
    slots, window = _ip_slots(now)
    store = _store()
    for key in slots:
        if store.add(key, b"1", window):
            return


def _failed(user: StaffUser | None, why: str) -> None:
    """A failed sign-in in the audit log: the account it aimed at (if any) and why.

    What was typed as an email is not kept when it names no account: it may be a
    password typed in the wrong box.
    """
    users.audit(None, "staff_login_failed", user, why)
    db.session.commit()


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
    """The account these credentials open, or None; failures are counted and audited."""
    now = now_utc(now)
    email = email if email.isprintable() else ""
    user = users.find(email) if 0 < len(email) <= users.EMAIL_MAX else None
    if user is None:
        passwords.verify_unknown(password)
        _ip_failed(now)
        _failed(None, "unknown email")
        return None
    good = passwords.verify(user.password_hash, password)
    if users.locked(user, now):
        _ip_failed(now)
        _failed(user, "account paused")
        return None
    if not good or not user.active:
        _account_failed(user, now)
        _ip_failed(now)
        _failed(user, "wrong password" if user.active else "account switched off")
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
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


# Pages a signed-in user may reach before changing a generated password or setting up a
# required second factor: nothing that shows callers' data.
SETUP_PAGES = frozenset({"staff.account", "staff.account_done", "staff.logout", "staff.static",
                         "staff.two_factor", "staff.two_factor_start", "staff.two_factor_enrol",
                         "staff.two_factor_confirm", "staff.two_factor_codes"})


def setup_redirect() -> str | None:
    """Where a signed-in user must go first, or None: a new password, then the second factor."""
    if request.endpoint in SETUP_PAGES:
        return None
    if current_user.must_change_password:
        return url_for("staff.account")
    if current_user.needs_second_factor:
        return url_for("staff.two_factor")
    return None


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

def _throttled(next_url: str, email: str) -> Any:
    log.warning("staff sign-in throttled for a client address")
    response = current_app.make_response(
        (render_template("staff/login.html", next_url=next_url, email=email, error=FAILED),
         429))
    response.headers["Retry-After"] = str(_settings()["ip_window_minutes"] * 60)
    return response


def _pending_key(token: str) -> str:
    return f"staff:signin-pending:{token}"


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("staff.queue"))
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("staff/login.html", next_url=next_url, email="")
    email = request.form.get("email", "")[:300]
    password = request.form.get("password", "")
    shown = email if email.isprintable() else ""
    if ip_blocked():
        return _throttled(next_url, shown)
    user = check_credentials(email, password)
    if user is None:
        return render_template("staff/login.html", next_url=next_url, email=shown, error=FAILED)
    if user.totp_enabled_at is not None:
        token = secrets.token_urlsafe(24)
        _store().set(_pending_key(token), json.dumps(
            {"user": user.id, "fingerprint": _fingerprint(user)}).encode(), PENDING_SECONDS)
        session.clear()
        session["pending"] = token
        return redirect(url_for("staff.login_code", next=next_url), 303)
    _signed_in(user)
    return redirect(next_url, 303)


def _pending_user() -> StaffUser | None:
    token = session.get("pending")
    if not isinstance(token, str):
        return None
    try:
        pending = json.loads(_store().get(_pending_key(token)) or b"null")
    except ValueError:
        return None
    if not isinstance(pending, dict) or not isinstance(pending.get("user"), int):
        return None
    user = db.session.get(StaffUser, pending["user"])
    if user is None or not user.active or users.locked(user) or user.totp_secret is None \
            or pending.get("fingerprint") != _fingerprint(user):
        return None
    return user


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Any:
    """The second step: a code from the authenticator app, or a recovery code."""
    next_url = safe_next(request.values.get("next"))
    user = _pending_user()
    if user is None:
        session.pop("pending", None)
        return redirect(url_for("staff.login", next=next_url), 303)
    if request.method == "GET":
        return render_template("staff/login_code.html", next_url=next_url)
    if ip_blocked():
        return _throttled(next_url, "")
    code = request.form.get("code", "")[:40]
    step = totp.verify(user.totp_secret or "", code, user.totp_last_step)
    if step is not None:
        user.totp_last_step = step
    else:
        remaining = totp.use_recovery_code(user.recovery_codes, code)
        if remaining is None:
            _account_failed(user, now_utc())
            _ip_failed(now_utc())
            _failed(user, "wrong second-factor code")
            return render_template("staff/login_code.html", next_url=next_url,
                                   error=CODE_FAILED), 400
        user.recovery_codes = remaining
        users.audit(user.id, "staff_recovery_code", user,
                    f"{remaining.count(',') + 1 if remaining else 0} recovery codes left")
    _store().delete(_pending_key(session.pop("pending")))
    _signed_in(user)
    return redirect(next_url, 303)


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:
        end_session(current_user.sid)
        user = db.session.get(StaffUser, current_user.id)
        users.audit(current_user.id, "staff_logout", user)
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("staff.login"), 303)


@bp.route("/account", methods=["GET", "POST"])
def account() -> Any:
    """Change one's own password (the current one is asked again); a generated password
    must be changed here before anything else."""
    if request.method == "GET":
        return render_template("staff/account.html")
    user = users.get(current_user.id)
    current = request.form.get("current", "")
    new = request.form.get("new", "")
    if not passwords.verify(user.password_hash, current):
        # guessing the password from a borrowed session counts like failed sign-ins
        _account_failed(user, now_utc())
        _failed(user, "wrong current password on the account page")
        db.session.refresh(user)
        if users.locked(user):
            return logout()
        return render_template("staff/account.html", error="The current password is wrong."), 400
    if new != request.form.get("repeat", ""):
        return render_template("staff/account.html",
                               error="The two new passwords are not the same."), 400
    if new == current:
        return render_template("staff/account.html",
                               error="Choose a password different from the current one."), 400
    try:
        users.set_password(user.id, new, by=user.id)
    except users.UserError as exc:
        return render_template("staff/account.html", error=str(exc)), 400
    end_session(current_user.sid)
    _signed_in(users.get(user.id))  # the change ended every session, this one included
    return redirect(url_for("staff.account_done"), 303)


@bp.get("/account/changed")
def account_done() -> Any:
    return render_template("staff/account.html", message="Your password was changed.")
