"""Staff security at ASVS level 2: password rules, second factor, forced change,
session lifetimes, throttling behind a shared address, and the trustworthy audit log."""

from __future__ import annotations

import json
import re
import time

import pyotp
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog
from hotline.services import callback_policy
from hotline.staff import auth, passwords, users
from tests.conftest import REDIS_URL
from tests.staffkit import PASSWORD, TOKEN_FIELD, Staff, make_user, quick_hashing, text_of
from tests.test_staff_auth import MID_WINDOW
from tests.test_staff_auth import try_login as signing_in

NEW = "quiet river lantern 84"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def try_login(client, email: str, password: str = PASSWORD, **extra):
    return signing_in(client, email, password, **extra)


def form_token(client, page: str) -> str:
    found = TOKEN_FIELD.search(text_of(client.get(page)))
    assert found, page
    return found.group(1)


def audits(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)
                                   .order_by(AuditLog.id)))


def sid_of(client) -> str:
    with client.session_transaction("/staff/login") as stored:
        return stored["_user_id"].partition(":")[2]


# --- password rules (NIST 800-63B) ------------------------------------------------------------

@pytest.mark.parametrize("password,why", [
    ("aaaaaaaaaaaa", "repeats"),
    ("abcabcabcabc", "repeats"),
    ("123456789012", "repeats"),
    ("password1234", "most common"),
    ("Password1234!", "most common"),
    ("qwerty123456", "most common"),
    ("ana@example.org", "email"),
    ("Ana.Example.org1", "email"),
    ("Ana Hassan 2024!", "email, your name"),
    ("mrrc-hotline-2025", "service"),
])
def test_weak_passwords_are_refused_with_the_reason(app, password, why):
    make_user("ana@example.org", name="Ana Hassan")
    ana = Staff(app, "ana@example.org")
    response = ana.post("/staff/account", {"current": PASSWORD, "new": password,
                                           "repeat": password}, page="/staff/account")
    assert response.status_code == 400 and why in text_of(response)
    assert Staff(app, "ana@example.org")  # the old password still works


@pytest.mark.parametrize("password", ["correct horse battery staple", "839201746352",
                                      "kiwi lantern 73 river", "ليمون أخضر في السوق"])
def test_long_uncommon_passwords_need_no_symbols_or_capitals(password):
    assert passwords.problem(password, ("ana@example.org", "Ana Hassan")) is None


def test_the_common_list_ships_with_the_package():
    listed = passwords.common()
    assert len(listed) >= 9000 and "password" in listed and "123456" in listed


def test_creating_an_account_with_a_weak_password_is_refused(app):
    with pytest.raises(users.UserError, match="most common"):
        users.create("ana@example.org", "agent", "Ana", "password1234")
    assert users.find("ana@example.org") is None


# --- a generated password must be changed ----------------------------------------------------

def test_a_generated_password_must_be_changed_before_anything_else(app):
    made = users.create("ana@example.org", "agent", "Ana")  # as an admin or the CLI would
    client = app.test_client()
    assert try_login(client, "ana@example.org", made.password).status_code == 303
    for page in ("/staff/", "/staff/requests/1", "/staff/try"):
        response = client.get(page)
        assert response.status_code == 303 and response.location == "/staff/account", page
    response = client.post("/staff/try/step", json={"dial": True},
                           headers={"X-CSRFToken": form_token(client, "/staff/account")})
    assert response.status_code == 403 and response.is_json
    page = text_of(client.get("/staff/account"))
    assert "Choose your own before you continue" in page
    response = client.post("/staff/account", data={
        "current": made.password, "new": made.password, "repeat": made.password,
        "csrf_token": form_token(client, "/staff/account")})
    assert response.status_code == 400 and "different" in text_of(response)
    response = client.post("/staff/account", data={
        "current": made.password, "new": NEW, "repeat": NEW,
        "csrf_token": form_token(client, "/staff/account")})
    assert response.status_code == 303
    assert client.get("/staff/").status_code == 200
    db.session.expire_all()
    assert not users.find("ana@example.org").must_change_password


def test_an_admin_reset_forces_a_change_but_a_chosen_password_does_not(app):
    user = make_user("ana@example.org")
    assert not user.must_change_password
    users.set_password(user.id, by=None)
    assert users.get(user.id).must_change_password
    users.set_password(user.id, NEW, by=user.id)
    assert not users.get(user.id).must_change_password


def test_the_development_admin_of_make_run_is_not_forced_to_change(app):
    line = users.development_login()
    password = re.search(r"password (\S+)$", line).group(1)
    client = app.test_client()
    assert try_login(client, users.DEV_ADMIN, password).status_code == 303
    assert client.get("/staff/").status_code == 200


# --- second factor ----------------------------------------------------------------------------

def enrol(client) -> tuple[str, list[str]]:
    """Set up TOTP through the pages, as a person would; the secret and recovery codes."""
    response = client.post("/staff/account/second-factor/start",
                           data={"csrf_token": form_token(client, "/staff/account/second-factor")})
    assert response.status_code == 303
    page = text_of(client.get(response.location))
    assert "<svg" in page and "<script" not in page
    secret = re.search(r'id="totp-secret" dir="ltr">([A-Z2-7]+)<', page).group(1)
    token = TOKEN_FIELD.search(page).group(1)
    response = client.post("/staff/account/second-factor/confirm",
                           data={"code": "000000" if pyotp.TOTP(secret).now() != "000000"
                                 else "111111", "csrf_token": token})
    assert response.status_code == 400 and "did not match" in text_of(response)
    response = client.post("/staff/account/second-factor/confirm",
                           data={"code": pyotp.TOTP(secret).now(), "csrf_token": token})
    assert response.status_code == 303
    codes_page = client.get(response.location)
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", text_of(codes_page))
    assert len(codes) == 10
    again = client.get(response.location)  # shown once
    assert again.status_code == 303 and codes[0] not in text_of(again)
    assert client.get("/staff/account/second-factor/enrol").status_code == 303  # QR gone too
    return secret, codes


def test_totp_enrolment_then_sign_in_needs_a_code(app):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    secret, codes = enrol(ana.client)
    user = users.find("ana@example.org")
    assert user.totp_secret == secret and user.totp_enabled_at is not None
    assert all(code not in user.recovery_codes for code in codes)  # hashed
    client = app.test_client()
    response = try_login(client, "ana@example.org")
    assert response.status_code == 303 and response.location.startswith("/staff/login/code")
    assert client.get("/staff/").status_code == 303  # not signed in yet
    token = form_token(client, "/staff/login/code")
    response = client.post("/staff/login/code", data={"code": "12345", "csrf_token": token})
    assert response.status_code == 400 and auth.CODE_FAILED in text_of(response)
    step = int(time.time() // 30)
    code = pyotp.TOTP(secret).at(step * 30)
    db.session.expire_all()
    if users.find("ana@example.org").totp_last_step == step:  # the enrolment used this step
        code = pyotp.TOTP(secret).at((step + 1) * 30)
    response = client.post("/staff/login/code", data={"code": code, "csrf_token": token})
    assert response.status_code == 303 and client.get("/staff/").status_code == 200
    # the same code cannot be replayed by someone who saw it
    thief = app.test_client()
    try_login(thief, "ana@example.org")
    response = thief.post("/staff/login/code", data={
        "code": code, "csrf_token": form_token(thief, "/staff/login/code")})
    assert response.status_code == 400 and thief.get("/staff/").status_code == 303
    assert [a.detail for a in audits("staff_login_failed")][-2:] == \
        ["wrong second-factor code"] * 2


def test_a_recovery_code_works_once(app):
    make_user("ana@example.org")
    _, codes = enrol(Staff(app, "ana@example.org").client)
    for expected in (303, 400):
        client = app.test_client()
        try_login(client, "ana@example.org")
        response = client.post("/staff/login/code", data={
            "code": codes[0].upper(), "csrf_token": form_token(client, "/staff/login/code")})
        assert response.status_code == expected
    assert audits("staff_recovery_code")[0].detail == "9 recovery codes left"


def test_the_code_step_cannot_be_reached_without_the_password(app, client):
    make_user("ana@example.org")
    response = client.get("/staff/login/code")
    assert response.status_code == 303 and response.location.startswith("/staff/login")
    with client.session_transaction("/staff/login") as stored:
        stored["pending"] = "made-up"
    assert client.get("/staff/login/code").status_code == 303


def test_supervisors_must_set_up_a_second_factor_where_required(app, make_app):
    app = make_app(STAFF={"require_second_factor": True})
    with app.app_context():
        make_user("sue@example.org", role="supervisor")
        make_user("ana@example.org")
        sue = Staff(app, "sue@example.org")
        response = sue.get("/staff/")
        assert response.status_code == 303 and response.location.endswith("/second-factor")
        assert "must use a second factor" in text_of(sue.get("/staff/account/second-factor"))
        assert Staff(app, "ana@example.org").get("/staff/").status_code == 200  # agents: optional
        enrol(sue.client)
        assert sue.get("/staff/").status_code == 200
        response = sue.post("/staff/account/second-factor/off", {"current": PASSWORD},
                            page="/staff/account/second-factor")
        assert response.status_code == 403
        assert users.find("sue@example.org").totp_enabled_at is not None


def test_production_requires_it_for_admins_and_supervisors(app, make_app):
    app = make_app()
    with app.app_context():
        sue = make_user("sue@example.org", role="supervisor")
        ana = make_user("ana@example.org")
        app.config["ENV"] = "production"
        assert auth.second_factor_required(sue) and not auth.second_factor_required(ana)
        app.config["ENV"] = "development"
        assert not auth.second_factor_required(sue)


def test_an_admin_can_remove_a_lost_second_factor(app):
    make_user("admin@example.org", role="admin")
    user = make_user("ana@example.org")
    enrol(Staff(app, "ana@example.org").client)
    admin = Staff(app, "admin@example.org")
    response = admin.post(f"/staff/users/{user.id}/second-factor", page=f"/staff/users/{user.id}")
    assert response.status_code == 200 and "Second factor removed" in text_of(response)
    db.session.expire_all()
    assert users.find("ana@example.org").totp_secret is None
    assert try_login(app.test_client(), "ana@example.org").location == "/staff/"
    assert audits("staff_totp_reset")[0].staff_id == admin.id


# --- sessions ---------------------------------------------------------------------------------

def test_switching_an_account_off_ends_its_sessions_for_good(app):
    make_user("admin@example.org", role="admin")
    agent = make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    users.update(agent.id, role="agent", active=False, name="Ana", by=None)
    assert ana.get("/staff/").status_code == 303
    users.update(agent.id, role="agent", active=True, name="Ana", by=None)
    assert ana.get("/staff/").status_code == 303  # switching it on again revives nothing
    assert Staff(app, "ana@example.org").get("/staff/").status_code == 200


def test_a_sign_in_ends_after_its_absolute_lifetime_however_busy(app):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    store = redis.Redis.from_url(REDIS_URL)
    key = f"staff:signin:{sid_of(ana.client)}"
    value = json.loads(store.get(key))
    value["since"] -= 11.9 * 3600
    store.set(key, json.dumps(value), ex=600)
    assert ana.get("/staff/").status_code == 200
    value["since"] -= 0.2 * 3600
    store.set(key, json.dumps(value), ex=600)
    assert ana.get("/staff/").status_code == 303
    assert store.get(key) is None
    store.close()


def test_the_queues_auto_refresh_does_not_keep_a_sign_in_alive(app):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    store = redis.Redis.from_url(REDIS_URL)
    key = f"staff:signin:{sid_of(ana.client)}"
    assert 29 * 60 < store.ttl(key) <= 30 * 60  # the idle timeout
    store.expire(key, 100)
    assert ana.get("/staff/", headers={auth.AUTO_REFRESH: "1"}).status_code == 200
    assert store.ttl(key) <= 100
    assert ana.get("/staff/").status_code == 200  # a person's click does
    assert store.ttl(key) > 29 * 60
    store.expire(key, 1)
    time.sleep(1.1)
    assert ana.get("/staff/", headers={auth.AUTO_REFRESH: "1"}).status_code == 303
    store.close()


def test_queue_js_marks_its_requests_as_auto_refresh():
    from pathlib import Path

    script = (Path(auth.__file__).parent / "static" / "queue.js").read_text()
    assert f'"{auth.AUTO_REFRESH}": "1"' in script


# --- throttling and addresses -----------------------------------------------------------------

def test_one_shared_office_address_is_not_locked_out_by_colleagues(app):
    for n in range(8):
        make_user(f"staff{n}@example.org")
    client = app.test_client()  # everyone behind the same NAT address
    for n in range(8):
        for _ in range(3):  # 24 failures from one address: more than the old limit of 20
            assert try_login(client, f"staff{n}@example.org", "wrong password!").status_code \
                == 200
    fresh = app.test_client()
    assert try_login(fresh, "staff0@example.org").status_code == 303


def test_a_spoofed_forwarded_for_is_ignored_without_trusted_proxies(app, make_app, monkeypatch):
    monkeypatch.setattr(callback_policy, "clock", lambda: MID_WINDOW)  # no quarter hour ends
    app = make_app(STAFF={"ip_failures": 3})
    with app.app_context():
        make_user("ana@example.org")
        client = app.test_client()
        for n in range(3):
            client.environ_base["HTTP_X_FORWARDED_FOR"] = f"10.0.0.{n}"
            try_login(client, f"nobody{n}@example.org", "x")
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "10.0.0.99"
        assert try_login(client, "ana@example.org").status_code == 429
        assert {a.address for a in audits("staff_login_failed")} == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, make_app, monkeypatch):
    monkeypatch.setattr(callback_policy, "clock", lambda: MID_WINDOW)  # no quarter hour ends
    app = make_app(STAFF={"ip_failures": 3}, PROXY_HOPS=1)
    with app.app_context():
        make_user("ana@example.org")
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
        for n in range(3):
            try_login(client, f"nobody{n}@example.org", "x")
        assert try_login(client, "ana@example.org").status_code == 429
        client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.8"
        assert try_login(client, "ana@example.org").status_code == 303
        assert audits("staff_login")[-1].address == "198.51.100.8"


def test_session_protection_never_reads_a_raw_forwarded_for(app):
    make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    ana.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.1"
    assert ana.get("/staff/").status_code == 200
    with app.test_request_context(headers={"X-Forwarded-For": "203.0.113.9"},
                                  environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        spoofed = auth._client_identifier()
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert auth._client_identifier() == spoofed


def test_the_csp_forbids_base_and_foreign_form_targets(app, client):
    for path in ("/staff/login", "/healthz"):
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "base-uri 'none'" in policy and "form-action 'self'" in policy, path
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


# --- the audit log ----------------------------------------------------------------------------

def test_sign_ins_failures_and_sign_outs_are_audited_with_address_and_browser(app):
    make_user("ana@example.org")
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER
    try_login(client, "ana@example.org", "wrong password!")
    try_login(client, "nobody@example.org", "typed-my-password-here")
    try_login(client, "ana@example.org")
    client.post("/staff/logout", data={"csrf_token": form_token(client, "/staff/")})
    entries = {a.action: a for a in audits("staff_login_failed") + audits("staff_login")
               + audits("staff_logout")}
    assert set(entries) == {"staff_login_failed", "staff_login", "staff_logout"}
    failed = audits("staff_login_failed")
    assert [a.detail for a in failed] == ["wrong password", "unknown email"]
    assert failed[0].target.startswith("staff_user:") and failed[1].target == ""
    for entry in (*failed, entries["staff_login"], entries["staff_logout"]):
        assert entry.address == "127.0.0.1" and entry.user_agent == BROWSER
    everything = " ".join(f"{a.detail} {a.target}" for a in
                          db.session.scalars(select(AuditLog)))
    assert "nobody@example.org" not in everything and "typed-my-password" not in everything


def test_the_audit_log_cannot_be_changed_or_deleted(app):
    users.audit(None, "staff_login", None, "kept")
    db.session.commit()
    for statement in ("UPDATE audit_log SET detail = 'changed'", "DELETE FROM audit_log",
                      "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
    assert [a.detail for a in audits("staff_login")] == ["kept"]


def test_the_audit_page_pages_and_filters_for_supervisors(app):
    make_user("sue@example.org", role="supervisor")
    make_user("ana@example.org")
    for n in range(60):
        db.session.add(AuditLog(staff_id=None, action="staff_login_failed",
                                detail=f"n{n:02d}", address="192.0.2.1"))
    db.session.commit()
    sue = Staff(app, "sue@example.org")
    Staff(app, "ana@example.org")
    first = sue.html("/staff/audit?action=staff_login_failed")
    assert 'id="audit-total">60<' in first and "page 1 of 2" in first and "n59" in first
    second = sue.html("/staff/audit?action=staff_login_failed&page=2")
    assert "n00" in second and "n59" not in second
    mine = sue.html("/staff/audit?staff=ana%40example&action=staff_login")
    assert 'id="audit-total">1<' in mine
    assert 'id="audit-total">60<' in sue.html("/staff/audit?address=192.0.2.1")
    assert 'id="audit-total">0<' in sue.html("/staff/audit?since=2000-01-01&until=2000-01-02")
    for bad in ("page=0", "page=x", "action=drop", "since=yesterday", "staff=%00",
                "address=" + "1" * 60):
        assert sue.get(f"/staff/audit?{bad}").status_code == 400, bad


def test_the_app_adds_no_address_outside_a_request(app):
    users.audit(None, "staff_login", None, "from the CLI")
    db.session.commit()
    entry = audits("staff_login")[0]
    assert entry.address == "" and entry.user_agent == ""


def test_the_models_and_the_migrations_agree(app):
    """What the migrations built (the test database) is what models.py describes."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
