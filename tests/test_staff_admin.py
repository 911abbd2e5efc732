"""Staff accounts: the admin pages, ``hotline create-user`` and the demo admin of ``make run``."""

import json

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from hotline.cli import cli
from hotline.extensions import db
from hotline.models import AuditLog
from hotline.staff import passwords, users
from hotline.sweeper import development_logins
from tests.staffkit import PASSWORD, Staff, make_user, quick_hashing, text_of


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def admin(app):
    make_user("root@example.org", role="admin", name="Root")
    return Staff(app, "root@example.org")


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_admin_creates_an_account_and_sees_its_password_once(app, admin):
    response = admin.post("/staff/users", {"email": " New.Agent@Example.org ", "name": "Nour",
                                           "role": "agent"}, page="/staff/users")
    body = text_of(response)
    assert response.status_code == 200 and "it is shown only now" in body
    password = body.split('id="new-password">')[1].split("<")[0]
    assert len(password) == 16
    user = users.find("new.agent@example.org")
    assert user.role == "agent" and user.name == "Nour"
    assert passwords.verify(user.password_hash, password)
    assert password not in admin.html("/staff/users")
    assert Staff(app, "new.agent@example.org", password)
    assert "staff_create" in actions()


@pytest.mark.parametrize("email,role,name,message", [
    ("root@example.org", "agent", "", "already has an account"),
    ("ROOT@example.org", "agent", "", "already has an account"),
    ("not an email", "agent", "", "is not an email address"),
    ("", "agent", "", "is not an email address"),
    ("a@b.c", "god", "", "Role must be one of"),
    ("x" * 300 + "@example.org", "agent", "", "is not an email address"),
    ("ok@example.org", "agent", "n" * 200, "at most 120"),
    ("<script>@example.org", "agent", "", "is not an email address"),
])
def test_bad_new_accounts_are_refused_with_a_reason(app, admin, email, role, name, message):
    response = admin.post("/staff/users", {"email": email, "role": role, "name": name},
                          page="/staff/users")
    body = text_of(response)
    assert response.status_code == 400 and message in body
    assert "<script>@" not in body
    assert len(users.all_users()) == 1


def test_role_and_switching_off(app, admin):
    agent = make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    response = admin.post(f"/staff/users/{agent.id}", {"role": "supervisor", "name": "Ana B",
                                                       "active": "yes"},
                          page=f"/staff/users/{agent.id}")
    assert response.status_code == 200 and "Saved." in text_of(response)
    assert ana.get("/staff/stats").status_code == 200  # the new role applies at once
    admin.post(f"/staff/users/{agent.id}", {"role": "supervisor", "name": "Ana B"},
               page=f"/staff/users/{agent.id}")
    assert ana.get("/staff/").status_code == 303  # switched off: signed out
    assert "Switched off" in admin.html("/staff/users")
    assert actions().count("staff_update") == 2


def test_the_last_admin_cannot_be_demoted_or_switched_off(app, admin):
    root = users.find("root@example.org")
    for data in ({"role": "agent", "active": "yes"}, {"role": "admin"}):
        response = admin.post(f"/staff/users/{root.id}", data, page=f"/staff/users/{root.id}")
        assert response.status_code == 400 and "last active admin" in text_of(response)
    db.session.expire_all()
    assert users.find("root@example.org").role == "admin"
    make_user("second@example.org", role="admin")
    response = admin.post(f"/staff/users/{root.id}", {"role": "agent", "active": "yes"},
                          page=f"/staff/users/{root.id}")
    assert response.status_code == 200
    assert admin.get("/staff/users").status_code == 403


def test_password_reset_and_unlock(app, admin):
    agent = make_user("ana@example.org")
    ana = Staff(app, "ana@example.org")
    response = admin.post(f"/staff/users/{agent.id}/password", page=f"/staff/users/{agent.id}")
    body = text_of(response)
    password = body.split('id="new-password">')[1].split("<")[0]
    assert ana.get("/staff/").status_code == 303  # the reset ended Ana's session
    assert Staff(app, "ana@example.org", password)
    user = users.find("ana@example.org")
    user.failed_logins, user.locked_until = 0, db.func.now() + db.text("interval '1 hour'")
    db.session.commit()
    assert "Paused after failed sign-ins" in admin.html(f"/staff/users/{agent.id}")
    assert "Paused" in admin.html("/staff/users")
    response = admin.post(f"/staff/users/{agent.id}/unlock", page=f"/staff/users/{agent.id}")
    assert "Unlocked" in text_of(response)
    assert Staff(app, "ana@example.org", password)
    assert {"staff_password", "staff_unlock"} <= set(actions())


def test_unknown_accounts_are_404(app, admin):
    for path in ("/staff/users/2147483647", "/staff/users/99999999999999999999"):
        assert admin.get(path).status_code == 404
        assert admin.post(path + "/unlock", page="/staff/users").status_code == 404


def test_audit_log_lists_who_did_what_escaped(app, admin):
    admin.post("/staff/users", {"email": "ana@example.org", "role": "agent",
                                "name": "<script>alert(1)</script>"}, page="/staff/users")
    page = admin.html("/staff/audit")
    assert "Created a staff account" in page and "Signed in" in page and "Root" in page
    assert "<script>alert(1)</script>" not in admin.html("/staff/users")


def run_cli(app, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app),
                              input=input)


def test_create_user_command_prints_a_password_that_works(app):
    result = run_cli(app, "create-user", "--email", "First@Example.org", "--role", "admin",
                     "--name", "First admin")
    assert result.exit_code == 0, result.output
    assert "Created first@example.org (admin)." in result.output
    password = result.output.split("at the first sign-in): ")[1].strip()
    assert passwords.verify(users.find("first@example.org").password_hash, password)
    assert users.find("first@example.org").must_change_password
    again = run_cli(app, "create-user", "--email", "first@example.org", "--role", "agent")
    assert again.exit_code == 1 and "already has an account" in again.output


def test_create_user_command_can_take_a_typed_password(app):
    typed = "a typed passphrase here"
    result = run_cli(app, "create-user", "--email", "t@example.org", "--role", "agent",
                     "--ask-password", input=f"{typed}\n{typed}\n")
    assert result.exit_code == 0, result.output
    assert typed not in result.output
    assert passwords.verify(users.find("t@example.org").password_hash, typed)
    short = run_cli(app, "create-user", "--email", "u@example.org", "--role", "agent",
                    "--ask-password", input="short\nshort\n")
    assert short.exit_code == 1 and "at least 12" in short.output


@pytest.mark.parametrize("args,message", [
    (["--email", "x@example.org", "--role", "boss"], "Invalid value for '--role'"),
    (["--role", "agent"], "Missing option '--email'"),
    (["--email", "bad", "--role", "agent"], "is not an email address"),
])
def test_create_user_command_bad_input(app, args, message):
    result = run_cli(app, "create-user", *args)
    assert result.exit_code != 0 and message in result.output


def test_make_run_prints_a_demo_admin_that_can_sign_in(app, tmp_path):
    app.instance_path = str(tmp_path)
    assert users.development_login in app.extensions["hotline.dev_logins"]
    line = development_logins()[-1]
    assert "admin@example.org" in line and "/staff/login" in line
    password = line.rsplit("password ", 1)[1]
    stored = json.loads((tmp_path / "dev-admin.json").read_text())
    assert stored["password"] == password
    assert (tmp_path / "dev-admin.json").stat().st_mode & 0o077 == 0
    assert development_logins()[-1] == line  # the same login every run
    user = users.find("admin@example.org")
    users.set_password(user.id, "someone changed it!")
    assert development_logins()[-1] == line  # repaired, still the printed password
    assert Staff(app, "admin@example.org", password)
    assert PASSWORD != password


def test_no_demo_admin_in_production(app):
    app.config["ENV"] = "production"
    try:
        assert "create-user" in users.development_login()
        assert users.find("admin@example.org") is None
    finally:
        app.config["ENV"] = "development"
