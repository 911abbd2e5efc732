"""Staff accounts: who may work the dashboard, with which role.

Used by the admin pages and by ``hotline create-user``. Every change is written
to the audit log. The last active admin can be neither demoted nor switched
off, so nobody can lock MRRC out of its own dashboard.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import func, select

from hotline.errors import N_, HotlineError
from hotline.extensions import db
from hotline.models import AuditLog, StaffUser
from hotline.services.callback_policy import now_utc
from hotline.staff import passwords

ROLES = ("agent", "supervisor", "admin")
RANK = {role: n for n, role in enumerate(ROLES)}
# The WHATWG (HTML input type=email) rule, lower-case: what the sign-in form accepts.
EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                   r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$")
EMAIL_MAX = 254
NAME_MAX = 120
DEV_ADMIN = "admin@example.org"


class UserError(HotlineError):
    """A staff account change that cannot be made; the message says why, for the admin.

    ``template`` and ``values`` let the dashboard say it in the admin's language; the
    message itself (the command line's) is English."""

    def __init__(self, template: str, **values: object) -> None:
        super().__init__(template % values if values else template)
        self.template, self.values = template, values


@dataclass(frozen=True)
class NewUser:
    user: StaffUser
    password: str  # shown once to whoever created the account, never stored in clear


def normal_email(email: str) -> str:
    return (email or "").strip().lower()


def _email(email: str) -> str:
    value = normal_email(email)
    if len(value) > EMAIL_MAX or not EMAIL.fullmatch(value):
        raise UserError(N_("%(value)s is not an email address."), value=repr(value[:60]))
    return value


def _name(name: str) -> str:
    value = " ".join((name or "").split())
    if len(value) > NAME_MAX or not value.isprintable():
        raise UserError(N_("A name has at most %(n)s printable characters."), n=NAME_MAX)
    return value


def _role(role: str) -> str:
    if role not in ROLES:
        raise UserError(N_("Role must be one of %(roles)s."), roles=", ".join(ROLES))
    return role


def _password(password: str, email: str, name: str) -> str:
    why = passwords.problem(password, (email, name))
    if why:
        raise UserError(why.template, **why.values)
    return password


def audit(staff_id: int | None, action: str, target: StaffUser | None, detail: str = "") -> None:
    """One audit entry about a staff account (address and user agent are added on insert)."""
    db.session.add(AuditLog(staff_id=staff_id, action=action,
                            target=f"staff_user:{target.id}" if target else "",
                            detail=detail[:300]))


def find(email: str) -> StaffUser | None:
    return db.session.scalar(select(StaffUser).where(StaffUser.email == normal_email(email)))


def get(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        raise UserError(N_("No staff user %(id)s."), id=user_id)
    return user


def all_users() -> list[StaffUser]:
    return list(db.session.scalars(select(StaffUser).order_by(StaffUser.email)))


def active_users() -> list[StaffUser]:
    return list(db.session.scalars(select(StaffUser).where(StaffUser.active.is_(True))
                                   .order_by(StaffUser.name, StaffUser.email)))


def create(email: str, role: str, name: str = "", password: str | None = None,
           by: int | None = None) -> NewUser:
    """A new active account; without ``password`` one is generated and returned once, and
    must be changed at the first sign-in (whoever handed it over has seen it)."""
    email, role, name = _email(email), _role(role), _name(name)
    chosen = _password(password, email, name) if password is not None else passwords.generate()
    if find(email) is not None:
        raise UserError(N_("%(email)s already has an account."), email=email)
    user = StaffUser(email=email, name=name, role=role, active=True, failed_logins=0,
                     password_hash=passwords.hash_password(chosen), session_epoch=0,
                     must_change_password=password is None)
    db.session.add(user)
    db.session.flush()
    audit(by, "staff_create", user, f"{email} as {role}")
    db.session.commit()
    return NewUser(user, chosen)


def _active_admins() -> int:
    return db.session.scalar(select(func.count()).select_from(StaffUser).where(
        StaffUser.role == "admin", StaffUser.active.is_(True))) or 0


def update(user_id: int, *, role: str, active: bool, name: str, by: int | None) -> StaffUser:
    """Change role, name or whether the account may sign in."""
    user = get(user_id)
    role, name = _role(role), _name(name)
    was_admin = user.role == "admin" and user.active
    if was_admin and (role != "admin" or not active) and _active_admins() <= 1:
        raise UserError(N_("This is the last active admin: make someone else admin first."))
    changes = [f"{field} {old!r}->{new!r}" for field, old, new in
               (("role", user.role, role), ("active", user.active, active),
                ("name", user.name, name)) if old != new]
    if user.active and not active:
        user.session_epoch += 1  # its sign-ins end now and stay ended if it is switched on again
    user.role, user.active, user.name = role, active, name
    if changes:
        audit(by, "staff_update", user, "; ".join(changes))
    db.session.commit()
    return user


def set_password(user_id: int, password: str | None = None, by: int | None = None) -> str:
    """A new password (generated when not given); it ends every open session of the user.

    A generated password must be changed at the next sign-in; one the user chose need not.
    """
    user = get(user_id)
    chosen = _password(password, user.email, user.name) if password is not None \
        else passwords.generate()
    user.password_hash = passwords.hash_password(chosen)
    user.must_change_password = password is None
    user.failed_logins, user.locked_until = 0, None
    audit(by, "staff_password", user, "own password" if by == user.id else "reset")
    db.session.commit()
    return chosen


def unlock(user_id: int, by: int | None) -> StaffUser:
    user = get(user_id)
    user.failed_logins, user.locked_until = 0, None
    audit(by, "staff_unlock", user)
    db.session.commit()
    return user


def locked(user: StaffUser, now: datetime | None = None) -> bool:
    until = user.locked_until
    if until is None:
        return False
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until
    return until > now_utc(now)


def development_login() -> str:
    """``make run``: a demo admin whose password lives in ``instance/`` (development only).

    Its password is chosen here (not "generated" for a person to change): ``make run``
    prints it every time, so it is never forced to change, and a second factor is only
    required in production.
    """
    if current_app.config.get("ENV") != "development":
        return "No demo staff login outside development: use `hotline create-user`."
    path = Path(current_app.instance_path) / "dev-admin.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    password = stored.get("password") or passwords.generate()
    user = find(DEV_ADMIN)
    if user is None:
        create(DEV_ADMIN, "admin", "Demo admin", password)
    elif not passwords.verify(user.password_hash, password) or not user.active \
            or user.role != "admin":
        set_password(user.id, password)
        update(user.id, role="admin", active=True, name=user.name or "Demo admin", by=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"email": DEV_ADMIN, "password": password}, indent=2))
    path.chmod(0o600)
    ctx = click.get_current_context(silent=True)
    base = (ctx.params.get("base_url") if ctx else None) or "http://127.0.0.1:5000"
    return f"Staff dashboard: {base}/staff/login  email {DEV_ADMIN}  password {password}"

