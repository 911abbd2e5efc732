"""The "busy, dial again" answer to a hop that waited too long for a thread, through
the webhook (the wait stamped as ``hotline.gworker`` stamps it): in the language of
the session under way, and with no database work at all, since the database is
what is overloaded.

``test_overload`` shows the same through a real gunicorn, but is too slow for the
mutation run; these are the fast checks written against issue 14's survivors of
``UssdService.busy`` and ``known_language``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from flask import Flask

from hotline import admission
from tests.conftest import REDIS_URL, UssdCaller, sql_during

LANG = {"ar": "1", "en": "2"}


@pytest.fixture()
def overloaded() -> Iterator:
    """Within the block, every request this thread serves waited 30 s for a thread."""
    def stamp():
        admission.queued(time.monotonic() - 30)

    yield stamp
    admission.queued(None)


def busy(app: Flask, lang: str | None) -> str:
    catalog = app.extensions["hotline.catalog"]
    if lang is not None:
        return "END " + catalog.render(lang, "error.busy")
    return "END " + "\n".join(catalog.render(lg, "error.busy") for lg in ("ar", "en"))


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_hop_turned_away_reads_busy_in_the_sessions_language_and_can_go_on(app, ussd,
                                                                             overloaded,
                                                                             lang):
    ussd.dial()
    home = ussd.press(LANG[lang])
    overloaded()
    ussd.post(f"{LANG[lang]}*1")
    assert ussd.body == busy(app, lang)
    admission.queued(None)  # the load is gone: the caller dials again and is served
    assert ussd.dial() == home


def test_busy_asks_nothing_of_the_database_even_for_a_known_caller(app, client, overloaded):
    """A returning English caller whose session record is gone from Redis (a private
    screen keeps none): the busy answer could look the caller up in PostgreSQL, but
    that is the load being shed; it is said in every language instead. A dial is
    answered the same way (no session yet)."""
    caller = UssdCaller(client)
    caller.dial()
    caller.press(LANG["en"])
    caller.dial()
    caller.press("1")
    redis.Redis.from_url(REDIS_URL).delete(f"ussd:{caller.session_id}")
    overloaded()
    assert sql_during(app, lambda: caller.post("1*1")) == []
    assert caller.body == busy(app, None)
    assert sql_during(app, caller.dial) == []
    assert caller.body == busy(app, None)
