"""The staff dashboard under ``/staff/``: server-rendered pages, its own CSS and JS.

Every route needs a signed-in staff member except the sign-in page and the
static files (``PUBLIC``); every POST needs the CSRF token of the form that
sent it. CSRF is checked here rather than app-wide, so the gateway webhooks,
which authenticate with their token, are untouched. Pages are never cached and
set a same-origin referrer, which Flask-WTF's HTTPS referrer check needs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import get_timezone_location
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh as refresh_language
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from hotline.extensions import csrf, login_manager

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates",
               static_folder="static", static_url_path="/static")

PUBLIC = frozenset({"staff.login", "staff.login_code", "staff.static"})


def init_app(app: Flask) -> None:
    """Sessions, CSRF and the blueprint; cookie settings strict, secure in production."""
    production = app.config.get("ENV") == "production"
    # __Host-: the browser keeps it only if it is Secure, host-only and for path /
    app.config["SESSION_COOKIE_NAME"] = "__Host-hotline" if production else "hotline"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = production
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(seconds=0)  # "remember me" is never set
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in require_sign_in below
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    app.session_interface = StaffSessions()
    login_manager.session_protection = "strong"
    login_manager.init_app(app)
    csrf.init_app(app)
    from hotline.staff import i18n

    i18n.init_app(app)
    app.register_blueprint(bp)
    # Flask-Login refreshes or clears its remember-me cookie after every request of the
    # app; only staff pages have a session that could ask it to (StaffSessions), so it
    # runs after theirs alone, not on every gateway hop.
    app.after_request_funcs[None].remove(login_manager._update_remember_cookie)
    app.after_request_funcs.setdefault(bp.name, []).append(login_manager._update_remember_cookie)
    # a newcomer who opens the bare address lands on the dashboard, not on a 404
    app.add_url_rule("/", "root", lambda: redirect(url_for("staff.queue"), 302))


class StaffSessions(SecureCookieSessionInterface):
    """The signed session cookie, for staff pages only.

    Gateways and health checks never sign in: opening (and verifying) a cookie
    session for them was a fifth of the framework's cost of a USSD hop.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(bp.url_prefix or "/staff"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def _forget_previous_request() -> None:
    """Drop the signed-in user and CSRF token that Flask-Login and Flask-WTF keep in ``g``.

    ``g`` belongs to the app context, and a request reuses an app context that
    is already pushed (tests, scripts): without this, one request would see the
    previous request's user and token.
    """
    for name in ("_login_user", current_app.config["WTF_CSRF_FIELD_NAME"], "csrf_valid",
                 "ui_language"):
        g.pop(name, None)
    refresh_language()  # Flask-Babel keeps the chosen locale in ``g`` too


def _refuse_nul_bytes() -> None:
    """A NUL byte in any field or query parameter is a 400 here, once for every page:
    PostgreSQL cannot store or compare text holding one, so it would otherwise
    surface as a 500 wherever a value reaches a query."""
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)


@bp.before_request
def require_sign_in() -> BaseResponse | None:
    _forget_previous_request()
    _refuse_nul_bytes()
    if request.endpoint not in PUBLIC and not current_user.is_authenticated:
        if request.is_json or request.path.startswith("/staff/try/"):
            return jsonify(error=_("Sign in first.")), 401  # type: ignore[return-value]
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("staff.login", next=target), 303)
    csrf.protect()
    if current_user.is_authenticated:
        from hotline.staff.auth import setup_redirect

        first = setup_redirect()
        if first is not None:
            if request.is_json or request.path.startswith("/staff/try/"):
                said = _("Finish setting up your account first.")
                return jsonify(error=said), 403  # type: ignore[return-value]
            return redirect(first, 303)
    return None


@bp.after_request
def private_pages(response: Response) -> Response:
    if request.endpoint != "staff.static":
        response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("ENV") == "production":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


# No outside content, no inline script; <base> and form targets cannot be hijacked.
CSP = ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
       "object-src 'none'")

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("Your role does not allow this page or action."),
    404: _l("There is nothing here."),
    405: _l("This address does not accept that kind of request."),
    413: _l("What was sent is too large."),
    429: _l("Too many attempts; wait a little and try again."),
}
TITLES = {
    400: _l("Bad request"), 403: _l("Forbidden"), 404: _l("Not found"),
    405: _l("Method not allowed"), 413: _l("Too large"), 429: _l("Too many requests"),
}


@bp.errorhandler(HTTPException)
def error_page(exc: HTTPException) -> tuple[Any, int]:
    code = exc.code or 500
    message = str(MESSAGES.get(code, exc.description or exc.name))
    if isinstance(exc, CSRFError):
        message = _("This form has expired or did not come from the dashboard. "
                    "Go back, reload the page and try again.")
    if request.is_json or request.path.startswith("/staff/try/"):
        return jsonify(error=message, status=code), code
    return render_template("staff/error.html", code=code, title=str(TITLES.get(code, exc.name)),
                           message=message), code


def local_time(at: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    """A stored UTC time as staff read it: in the centre's zone (Africa/Khartoum)."""
    if at is None:
        return "—"
    from hotline.staff import i18n

    return i18n.format_local(at, fmt)


def duration(delta: timedelta | None) -> str:
    """``timedelta`` -> ``2 d 3 h``, ``1 h 20 min``, ``5 min``: two units at most."""
    if delta is None:
        return "—"
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(d)s d %(h)s h", d=days, h=hours) if hours else _("%(d)s d", d=days)
    if hours:
        return _("%(h)s h %(m)s min", h=hours, m=mins) if mins else _("%(h)s h", h=hours)
    return _("%(m)s min", m=mins)


@bp.app_template_filter("local")
def _local_filter(at: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    return local_time(at, fmt)


@bp.app_template_filter("note_privacy")
def _note_filter(note: str) -> tuple[str, bool]:
    """A staff note as lists show it: phone-like numbers masked, and whether it had one."""
    from hotline.privacy import mask_numbers

    return mask_numbers(note)


@bp.app_template_filter("day")
def _day_filter(day: date | None) -> str:
    """A calendar date in the dashboard's language."""
    return format_date(day, "d MMM y") if day else "—"


@bp.app_template_filter("number")
def _number_filter(value: int | float) -> str:
    """A count written the way the dashboard's language writes numbers."""
    return format_decimal(value)


@bp.app_template_filter("money")
def _money_filter(value: float) -> str:
    """An amount with two decimals, written the way the dashboard's language writes them."""
    return format_decimal(value, format="#,##0.00")


@bp.app_template_filter("percent")
def _percent_filter(value: float) -> str:
    """A share (0.45) as the dashboard's language writes a percentage."""
    return format_percent(value)


@bp.app_template_filter("duration")
def _duration_filter(delta: timedelta | None) -> str:
    return duration(delta)


@bp.context_processor
def page_globals() -> dict[str, Any]:
    from hotline.staff import i18n, labels

    zone = current_app.config["TIMEZONE"]
    try:  # "Sudan Time", «توقيت السودان»: the zone as the page's language names it
        shown = get_timezone_location(zone, locale=i18n.current())
    except LookupError:
        shown = zone
    return {"labels": labels, **i18n.page_globals(), "timezone": shown,
            "windows": dict(current_app.config["CALLBACKS"]["windows"])}


from hotline.staff import (  # noqa: E402,F401  (views register on bp)
    admin,
    alerts,
    auth,
    casework,
    inbox,
    outbox,
    oversight,
    search,
    simulator,
    supervisor,
    twofactor,
    urgent,
    worklist,
)
