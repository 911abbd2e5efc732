"""The dashboard's language: Arabic or English, per staff member, the browser's by default.

Flask-Babel (gettext catalogs under ``translations/``, dates and numbers through
Babel's CLDR data) rather than hand-written lookups: translators work on a
standard ``.po`` file, and ``pybabel extract`` finds every marked text. The
compiled ``.mo`` is committed beside its ``.po``; ``tests/test_staff_i18n.py``
checks that the two say the same and that every message has its Arabic.

Regenerate after changing texts::

    pybabel extract -F hotline/staff/babel.cfg -o /tmp/messages.pot hotline/staff
    pybabel update -i /tmp/messages.pot -d hotline/staff/translations
    pybabel compile -d hotline/staff/translations
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, format_datetime, get_locale
from flask_login import current_user
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import StaffUser

LANGUAGES = ("ar", "en")
RTL = frozenset({"ar"})
DEFAULT = "en"
TRANSLATIONS = Path(__file__).with_name("translations")

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    babel.init_app(app, locale_selector=select_locale)


def user_language(staff_id: int) -> str | None:
    """The language a staff member chose (None: follow the browser)."""
    if "ui_language" not in g:
        g.ui_language = db.session.scalar(
            select(StaffUser.ui_language).where(StaffUser.id == staff_id))
    return g.ui_language


def select_locale() -> str:
    """The signed-in member's choice, else the browser's preference among ours."""
    if not has_request_context():
        return DEFAULT
    if current_user and current_user.is_authenticated:
        chosen = user_language(current_user.id)
        if chosen in LANGUAGES:
            return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def current() -> str:
    return str(get_locale() or DEFAULT).split("_")[0]


def direction() -> str:
    return "rtl" if current() in RTL else "ltr"


# strftime-style formats the templates use, as CLDR patterns (month names per language)
PATTERNS = {
    "%d %b %Y %H:%M": "d MMM y HH:mm",
    "%d %b %H:%M": "d MMM HH:mm",
    "%H:%M": "HH:mm",
    "%H:%M:%S": "HH:mm:ss",
    "%d %b": "d MMM",
    "%d %b %Y": "d MMM y",
    "%Y-%m-%d": "y-MM-dd",
}


def format_local(at: datetime, fmt: str) -> str:
    """A UTC time in the centre's zone, written in the dashboard's language."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local = at.astimezone(zone)
    pattern = PATTERNS.get(fmt)
    if pattern is None or not has_request_context():
        return local.strftime(fmt)
    return format_datetime(local.replace(tzinfo=None), pattern, rebase=False)


def page_globals() -> dict[str, Any]:
    return {"ui_lang": current(), "ui_dir": direction(), "ui_languages": LANGUAGES}
