"""Signing in and out: argon2 passwords, lock-out, throttling, sessions, cookies, CSRF."""

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog
from hotline.services import callback_policy
from hotline.staff import auth, passwords, users
from tests.conftest import overrides
from tests.staffkit import PASSWORD, TOKEN_FIELD, Staff, make_user, quick_hashing, text_of

MID_WINDOW = datetime(2026, 11, 29, 10, 7, 30, tzinfo=UTC)  # the middle of a throttle window


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def login_token(client) -> str:
    return TOKEN_FIELD.search(text_of(client.get("/staff/login"))).group(1)


def try_login(client, email: str, password: str, **extra) -> object:
    return client.post("/staff/login", data={"email": email, "password": password,
                                             "csrf_token": login_token(client), **extra})


def test_password_is_stored_as_argon2id_and_checked(app, monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher())  # the production costs
    user = make_user("ana@example.org")
    assert user.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in user.password_hash
    assert passwords.verify(user.password_hash, PASSWORD)
    assert not passwords.verify(user.password_hash, PASSWORD + "x")
    assert not passwords.verify("not a hash", PASSWORD)


def test_an_old_weaker_hash_is_upgraded_at_sign_in(app, client, monkeypatch):
    user = make_user("ana@example.org")  # hashed with the small test costs
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher())
    assert passwords.needs_rehash(user.password_hash)
    assert try_login(client, "ana@example.org", PASSWORD).status_code == 303
    db.session.expire_all()
    upgraded = users.find("ana@example.org").password_hash
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify(upgraded, PASSWORD)


def test_sign_in_lands_on_the_queue_and_records_it(app, client):
    make_user("Ana@Example.org", name="Ana")
    response = try_login(client, "  ANA@example.org ", PASSWORD)
    assert response.status_code == 303 and response.location.endswith("/staff/")
    page = text_of(client.get("/staff/"))
    assert "Callback queue" in page and "Ana" in page
    user = users.find("ana@example.org")
    assert user.last_login_at is not None and user.failed_logins == 0
    assert db.session.scalar(select(AuditLog.action).where(AuditLog.staff_id == user.id)) \
        == "staff_login"


@pytest.mark.parametrize("email,password", [
    ("ana@example.org", "wrong password!"),
    ("nobody@example.org", PASSWORD),
    ("", ""),
    ("ana@example.org", ""),
    ("' OR 1=1 --", "' OR 1=1 --"),
    ("a" * 5000 + "@example.org", "x" * 5000),
    ("<script>alert(1)</script>", "pw"),
])
def test_failed_sign_in_says_the_same_thing_whatever_went_wrong(app, client, email, password):
    make_user("ana@example.org")
    response = try_login(client, email, password)
    body = text_of(response)
    assert response.status_code == 200
    assert auth.FAILED in body
    assert "<script>alert(1)</script>" not in body
    assert "does not exist" not in body and "unknown" not in body.lower()
    assert client.get("/staff/").status_code == 303  # still signed out


def test_five_failures_lock_the_account_even_for_the_right_password(app, client):
    user = make_user("ana@example.org")
    for _ in range(4):
        assert auth.FAILED in text_of(try_login(client, "ana@example.org", "wrong-password"))
    assert users.find("ana@example.org").locked_until is None
    try_login(client, "ana@example.org", "wrong-password")
    db.session.expire_all()
    locked = users.find("ana@example.org")
    assert users.locked(locked)
    response = try_login(client, "ana@example.org", PASSWORD)
    assert auth.FAILED in text_of(response)  # same words as a wrong password: nothing leaks
    assert client.get("/staff/").status_code == 303
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "staff_locked",
                                                    AuditLog.target == f"staff_user:{user.id}"))


def test_a_lock_ends_by_itself_after_its_time(app, client):
    make_user("ana@example.org")
    for _ in range(5):
        try_login(client, "ana@example.org", "wrong-password")
    user = users.find("ana@example.org")
    user.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert try_login(client, "ana@example.org", PASSWORD).status_code == 303


def test_a_success_resets_the_failure_count(app, client):
    make_user("ana@example.org")
    for _ in range(4):
        try_login(client, "ana@example.org", "wrong-password")
    assert try_login(client, "ana@example.org", PASSWORD).status_code == 303
    db.session.expire_all()
    assert users.find("ana@example.org").failed_logins == 0


def test_too_many_failures_from_one_address_are_throttled(app, make_app, monkeypatch):
    monkeypatch.setattr(callback_policy, "clock", lambda: MID_WINDOW)  # no quarter hour ends
    app = make_app(STAFF={"ip_failures": 3})
    with app.app_context():
        make_user("ana@example.org")
        client = app.test_client()
        for n in range(3):
            assert try_login(client, f"nobody{n}@example.org", "x").status_code == 200
        response = try_login(client, "ana@example.org", PASSWORD)
        assert response.status_code == 429 and auth.FAILED in text_of(response)
        assert int(response.headers["Retry-After"]) > 0
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "10.9.9.9"
        response = try_login(other, "ana@example.org", PASSWORD)
        assert response.status_code == 303, text_of(response)


def test_switched_off_account_cannot_sign_in_and_loses_its_session(app):
    make_user("admin@example.org", role="admin")
    agent = make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    assert ana.get("/staff/").status_code == 200
    users.update(agent.id, role="agent", active=False, name="Ana", by=None)
    assert ana.get("/staff/").status_code == 303
    assert auth.FAILED in text_of(try_login(app.test_client(), "ana@example.org", PASSWORD))


@pytest.mark.parametrize("target,expected", [
    ("/staff/stats?period=7", "/staff/stats?period=7"),
    ("https://evil.example/staff/", "/staff/"),
    ("//evil.example/staff/", "/staff/"),
    ("/\\evil.example", "/staff/"),
    ("/healthz", "/staff/"),
    ("javascript:alert(1)", "/staff/"),
])
def test_after_sign_in_only_dashboard_paths_are_followed(app, target, expected):
    make_user("sam@example.org", role="supervisor")
    client = app.test_client()
    response = try_login(client, "sam@example.org", PASSWORD, next=target)
    assert response.status_code == 303
    assert response.location == expected


def test_sign_out_ends_the_session_on_the_server(app):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    stolen = ana.client.get_cookie("hotline")
    assert stolen is not None
    assert ana.post("/staff/logout").status_code == 303
    assert ana.get("/staff/").status_code == 303
    thief = app.test_client()
    thief.set_cookie("hotline", stolen.value)
    assert thief.get("/staff/").status_code == 303


def test_changing_ones_password_ends_other_sessions_but_not_this_one(app):
    make_user("ana@example.org")
    laptop, phone = Staff(app, "ana@example.org"), Staff(app, "ana@example.org")
    new = "a brand new passphrase"
    response = laptop.post("/staff/account", {"current": PASSWORD, "new": new, "repeat": new},
                           page="/staff/account", follow_redirects=True)
    assert response.status_code == 200 and "Your password was changed" in text_of(response)
    assert laptop.get("/staff/").status_code == 200
    assert phone.get("/staff/").status_code == 303
    assert Staff(app, "ana@example.org", new)


@pytest.mark.parametrize("current,new,repeat,message", [
    ("wrong", "a brand new passphrase", "a brand new passphrase", "current password is wrong"),
    (PASSWORD, "short", "short", "at least 12"),
    (PASSWORD, "a brand new passphrase", "another passphrase!", "not the same"),
    (PASSWORD, "x" * 300, "x" * 300, "at most 256"),
    (PASSWORD, "tab\tin the password", "tab\tin the password", "printable"),
])
def test_a_bad_password_change_is_refused_with_a_reason(app, current, new, repeat, message):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    response = ana.post("/staff/account", {"current": current, "new": new, "repeat": repeat},
                        page="/staff/account")
    assert response.status_code == 400 and message in text_of(response)
    assert ana.get("/staff/").status_code == 200


def test_session_cookie_is_http_only_lax_and_never_remembered(app):
    make_user("ana@example.org")
    client = app.test_client()
    response = try_login(client, "ana@example.org", PASSWORD)
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("hotline="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert not any(c.startswith("remember_token") for c in cookies)
    assert "Expires" not in session_cookie  # ends with the browser


def test_production_cookies_are_secure_and_host_only(app, make_app):
    app = make_app(ENV="production", AT_USERNAME="sandbox", AT_API_KEY="k" * 20)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-hotline"
    client = app.test_client()
    response = client.get("/staff/login", base_url="https://staff.example.org")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_https_forms_work_with_the_same_origin_referrer(app, make_app):
    """Flask-WTF wants a same-origin Referer over HTTPS; the pages allow browsers to send it."""
    app = make_app()
    with app.app_context():
        make_user("ana@example.org")
        client = app.test_client()
        base = "https://staff.example.org"
        page = client.get("/staff/login", base_url=base)
        assert page.headers["Referrer-Policy"] == "same-origin"
        token = TOKEN_FIELD.search(text_of(page)).group(1)
        data = {"email": "ana@example.org", "password": PASSWORD, "csrf_token": token}
        assert client.post("/staff/login", data=data, base_url=base).status_code == 400
        response = client.post("/staff/login", data=data, base_url=base,
                               headers={"Referer": f"{base}/staff/login"})
        assert response.status_code == 303


def test_a_form_without_its_csrf_token_is_a_400(app, client):
    make_user("ana@example.org")
    response = client.post("/staff/login", data={"email": "ana@example.org",
                                                 "password": PASSWORD})
    assert response.status_code == 400
    assert "form has expired" in text_of(response)
    ana = Staff(app, "ana@example.org")
    for token in (None, "", "forged-token", ana.token() + "x"):
        data = {} if token is None else {"csrf_token": token}
        response = ana.client.post("/staff/logout", data=data)
        assert response.status_code == 400, token
    assert ana.get("/staff/").status_code == 200  # still signed in: the forged logout failed


def test_a_token_from_another_session_does_not_work(app):
    make_user("ana@example.org")
    make_user("bob@example.org")
    ana, bob = Staff(app, "ana@example.org"), Staff(app, "bob@example.org")
    response = ana.client.post("/staff/logout", data={"csrf_token": bob.token()})
    assert response.status_code == 400


def test_staff_pages_send_security_headers(app, client):
    response = client.get("/staff/login")
    headers = response.headers
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "same-origin"
    body = text_of(response)
    assert "<script>" not in body and "style=" not in body  # nothing inline for the CSP


def test_passwords_never_reach_the_log(app, client, caplog):
    make_user("ana@example.org")
    with caplog.at_level("DEBUG"):
        for _ in range(6):
            try_login(client, "ana@example.org", "my-secret-guess")
    assert "my-secret-guess" not in caplog.text
    assert "ana@example.org" not in caplog.text


def test_overrides_keep_the_other_staff_defaults():
    from hotline import create_app

    app = create_app(overrides(STAFF={"lockout_failures": 2}))
    assert app.config["STAFF"]["lockout_failures"] == 2
    assert app.config["STAFF"]["lockout_minutes"] == 15
    from tests.conftest import dispose

    dispose(app)


def test_guessing_the_password_on_the_account_page_signs_out_and_pauses(app):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    for _ in range(4):
        response = ana.post("/staff/account", {"current": "guess", "new": "x" * 12,
                                               "repeat": "x" * 12}, page="/staff/account")
        assert response.status_code == 400
    response = ana.post("/staff/account", {"current": "guess", "new": "x" * 12,
                                           "repeat": "x" * 12}, page="/staff/account")
    assert response.status_code == 303 and response.location == "/staff/login"
    assert ana.get("/staff/").status_code == 303
    assert users.locked(users.find("ana@example.org"))
    assert auth.FAILED in text_of(try_login(app.test_client(), "ana@example.org", PASSWORD))
