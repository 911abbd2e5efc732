"""Admin pages: staff accounts (the audit log is the supervisors', in ``oversight``)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from hotline.extensions import db
from hotline.models import StaffUser
from hotline.staff import bp, labels, twofactor, users
from hotline.staff.auth import requires

MAX_ID = 2**31 - 1


def _user(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id) if user_id <= MAX_ID else None
    if user is None:
        abort(404)
    return user


def _list(status: int = 200, **extra: Any) -> Any:
    everyone = users.all_users()
    return render_template("staff/users.html", users=everyone, roles=users.ROLES,
                           locked_ids={u.id for u in everyone if users.locked(u)},
                           form=request.form, **extra), status


@bp.get("/users")
@requires("admin")
def staff_users() -> Any:
    return _list()


@bp.post("/users")
@requires("admin")
def create_user() -> Any:
    try:
        made = users.create(request.form.get("email", ""), request.form.get("role", ""),
                            request.form.get("name", ""), by=current_user.id)
    except users.UserError as exc:
        return _list(400, error=labels.error(exc))
    return _list(created=made.user, password=made.password)


def _edit(user: StaffUser, status: int = 200, **extra: Any) -> Any:
    return render_template("staff/user.html", user=user, roles=users.ROLES,
                           locked=users.locked(user), **extra), status


@bp.get("/users/<int:user_id>")
@requires("admin")
def user_page(user_id: int) -> Any:
    return _edit(_user(user_id))


@bp.post("/users/<int:user_id>")
@requires("admin")
def update_user(user_id: int) -> Any:
    user = _user(user_id)
    try:
        users.update(user.id, role=request.form.get("role", ""),
                     active=request.form.get("active") == "yes",
                     name=request.form.get("name", ""), by=current_user.id)
    except users.UserError as exc:
        db.session.rollback()
        return _edit(_user(user_id), 400, error=labels.error(exc))
    return _edit(user, message=_("Saved."))


@bp.post("/users/<int:user_id>/password")
@requires("admin")
def reset_password(user_id: int) -> Any:
    user = _user(user_id)
    password = users.set_password(user.id, by=current_user.id)
    return _edit(user, password=password)


@bp.post("/users/<int:user_id>/unlock")
@requires("admin")
def unlock_user(user_id: int) -> Any:
    user = users.unlock(_user(user_id).id, by=current_user.id)
    return _edit(user, message=_("Unlocked: the account can sign in again."))


@bp.post("/users/<int:user_id>/second-factor")
@requires("admin")
def reset_second_factor(user_id: int) -> Any:
    """A lost phone: the user sets up a new second factor at their next sign-in."""
    user = _user(user_id)
    if user.totp_enabled_at is not None:
        twofactor.clear(user)
        users.audit(current_user.id, "staff_totp_reset", user)
        db.session.commit()
    return _edit(user, message=_("Second factor removed: they set up a new one after signing "
                                 "in."))
