"""Sign-in throttling reads the app's clock, so tests stand where they choose in time.

The per-address limit counts failures in fixed windows of ``ip_window_minutes``;
the account pause lasts ``lockout_minutes``. Both were read from the wall clock, so a
test whose failures straddled a quarter hour saw two half-empty windows and failed
at random. Here the clock is set (``callback_policy.clock``), never waited for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.extensions import db
from hotline.services import callback_policy
from hotline.staff import auth, users
from tests.staffkit import PASSWORD, TOKEN_FIELD, make_user, quick_hashing, text_of

# 10:14:59 UTC: one second before a quarter-hour window ends
JUST_BEFORE_A_WINDOW_ENDS = datetime(2026, 11, 29, 10, 14, 59, tzinfo=UTC)


class Clock:
    """The time every sign-in step reads; tests move it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
        self.at = at
        monkeypatch.setattr(callback_policy, "clock", lambda: self.at)

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def try_login(client, email: str, password: str = PASSWORD):
    token = TOKEN_FIELD.search(text_of(client.get("/staff/login"))).group(1)
    return client.post("/staff/login", data={"email": email, "password": password,
                                             "csrf_token": token})


def test_a_set_clock_keeps_the_failures_in_one_window_whatever_the_wall_clock_does(
        app, make_app, monkeypatch):
    """The clock says 10:14:59 throughout, whatever the wall clock does meanwhile."""
    clock = Clock(monkeypatch, JUST_BEFORE_A_WINDOW_ENDS)
    app = make_app(STAFF={"ip_failures": 3})
    with app.app_context():
        make_user("ana@example.org")
        client = app.test_client()
        for n in range(3):
            assert try_login(client, f"nobody{n}@example.org", "x").status_code == 200
        assert try_login(client, "ana@example.org").status_code == 429
        clock.advance(seconds=1)  # 10:15:00: a new window, the address may try again
        assert try_login(client, "ana@example.org").status_code == 303


def test_the_address_limit_lasts_until_the_window_ends_by_the_clock(app, make_app, monkeypatch):
    clock = Clock(monkeypatch, datetime(2026, 11, 29, 10, 0, 1, tzinfo=UTC))
    app = make_app(STAFF={"ip_failures": 2, "ip_window_minutes": 15})
    with app.app_context():
        make_user("ana@example.org")
        client = app.test_client()
        for n in range(2):
            try_login(client, f"nobody{n}@example.org", "x")
        clock.advance(minutes=14, seconds=58)  # 10:14:59, still the same window
        with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            assert auth.ip_blocked()
        assert try_login(client, "ana@example.org").status_code == 429
        clock.advance(seconds=1)
        with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            assert not auth.ip_blocked()


def test_a_paused_account_opens_again_when_the_clock_passes_the_pause(app, monkeypatch):
    clock = Clock(monkeypatch, JUST_BEFORE_A_WINDOW_ENDS)
    make_user("ana@example.org")
    client = app.test_client()
    for _ in range(5):  # lockout_failures
        try_login(client, "ana@example.org", "wrong-password")
    db.session.expire_all()
    ana = users.find("ana@example.org")
    assert ana.locked_until == JUST_BEFORE_A_WINDOW_ENDS + timedelta(minutes=15)
    clock.advance(minutes=14, seconds=59)
    assert users.locked(ana)
    assert try_login(app.test_client(), "ana@example.org").status_code == 200  # still paused
    clock.advance(seconds=2)
    assert not users.locked(ana)
    assert try_login(app.test_client(), "ana@example.org").status_code == 303
