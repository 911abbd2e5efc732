"""Where settings come from: ``config/defaults.toml`` holds every default, once; the
instance file (``instance/hotline.toml``) holds the site's own values, such as holidays.

An Eid date is a line in the instance file, not an edit to a tracked file; a
misspelt key there is refused rather than ignored; a bad value there stops start-up
in production like any other; and no code repeats a default the file already gives.
"""

from __future__ import annotations

import ast
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hotline import create_app
from hotline.config import DEFAULTS, ROOT, instance_file, load_settings
from hotline.errors import ConfigError
from hotline.services import callback_policy, caller_requests
from tests.conftest import PHONE
from tests.staffkit import Staff, make_request, make_user, quick_hashing

# Wednesday 2026-11-25, 14:00 in Khartoum (UTC+2): one working day later is Thursday
# 14:00; with Thursday a holiday (Friday and Saturday are the weekend) it is Sunday 14:00.
WEDNESDAY_1400 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
THURSDAY = "2026-11-26"


def write(folder: Path, text: str) -> Path:
    path = folder / "hotline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def production(tmp_path: Path) -> dict:
    return {"ENV": "production", "DATABASE_URL": "postgresql+psycopg://h/db",
            "REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "s" * 40,
            "WEBHOOK_TOKEN": "t" * 32, "AT_USERNAME": "mrrc", "AT_API_KEY": "k",
            "INSTANCE_PATH": str(tmp_path)}


def test_a_holiday_in_the_instance_file_moves_the_deadline(tmp_path):
    def deadline(folder: Path) -> datetime:
        cfg = callback_policy.parse_settings(load_settings({"INSTANCE_PATH": str(folder)},
                                                           environ={}))
        return cfg.deadline(WEDNESDAY_1400, callback_policy.NORMAL, cfg.week)

    plain = tmp_path / "plain"
    plain.mkdir()
    assert deadline(plain) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # Thursday 14:00
    write(tmp_path, f'[callbacks]\nholidays = ["{THURSDAY}"]  # Eid\n')
    assert deadline(tmp_path) == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # Sunday 14:00


def test_a_caller_is_promised_the_day_after_an_instance_holiday(app, make_app, tmp_path):
    write(tmp_path, f"[callbacks]\nholidays = [{THURSDAY}]  # a TOML date works too\n")
    app = make_app(INSTANCE_PATH=str(tmp_path))
    with app.app_context():
        told = caller_requests.submit(PHONE, reason="medical", safe_to_call="yes",
                                      language="en", now=WEDNESDAY_1400)
    assert (told.expect_day, told.expect_until) == ("sun", "14:00")


def test_the_instance_file_fills_sections_key_by_key_and_the_environment_wins(tmp_path):
    write(tmp_path, '[hotline]\ndefault_language = "en"\ncentre_hours = "9:00-14:00"\n'
                    '[centre]\ncentre_hours = "9:00-14:00"\n'
                    '[callbacks]\nmax_claims = 3\n')
    with pytest.raises(ConfigError):  # centre_hours is a [centre] key, not a [hotline] one
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    write(tmp_path, '[hotline]\ndefault_language = "en"\n[centre]\ncentre_hours = "9:00-14:00"\n'
                    '[callbacks]\nmax_claims = 3\n')
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert settings["DEFAULT_LANGUAGE"] == "en"
    assert settings["CENTRE"]["centre_hours"] == "9:00-14:00"
    assert settings["CALLBACKS"]["max_claims"] == 3
    assert settings["CALLBACKS"]["claim_minutes"] == 15  # the rest of the section stays
    env = {"HOTLINE_DEFAULT_LANGUAGE": "ar", "HOTLINE_CALLBACKS__MAX_CLAIMS": "4"}
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=env)
    assert settings["DEFAULT_LANGUAGE"] == "ar" and settings["CALLBACKS"]["max_claims"] == 4


def test_hotline_settings_file_names_the_instance_file(tmp_path):
    elsewhere = tmp_path / "etc-hotline.toml"
    elsewhere.write_text("[callbacks]\nmax_attempts = 6\n", encoding="utf-8")
    env = {"HOTLINE_SETTINGS_FILE": str(elsewhere)}
    assert instance_file({"INSTANCE_PATH": "/nowhere"}, env) == elsewhere
    assert load_settings(environ=env)["CALLBACKS"]["max_attempts"] == 6
    assert instance_file({"INSTANCE_PATH": str(tmp_path)}, {}) == tmp_path / "hotline.toml"


@pytest.mark.parametrize("text, named", [
    ('[callbacks]\nholiday = ["2027-03-10"]\n', "[callbacks] holiday"),
    ("[callback]\nholidays = []\n", "[callback]"),
    ('[hotline]\ntimezon = "Africa/Khartoum"\n', "[hotline] timezon"),
])
def test_a_misspelt_key_in_the_instance_file_is_refused(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert info.value.problems == [f"{path}: {named} is not a setting (config/defaults.toml "
                                   "lists them all)"]


def test_an_instance_file_that_is_not_toml_is_refused(tmp_path):
    write(tmp_path, "[callbacks\nholidays = \n")
    with pytest.raises(ConfigError, match="cannot be read as TOML"):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})


@pytest.mark.parametrize("text, problem", [
    ('[callbacks]\nholidays = ["2027-02-30"]\n', "holidays must be YYYY-MM-DD dates"),
    ("[callbacks]\nmax_claims = 0\n", "[callbacks] max_claims must be a positive number"),
    ('[ussd]\ngsm7_budget = "lots"\n', "[ussd] gsm7_budget must be a positive whole number"),
])
def test_production_refuses_a_bad_value_from_the_instance_file(tmp_path, text, problem):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        create_app(production(tmp_path))
    assert any(problem in p for p in info.value.problems), info.value.problems


# --- one place for defaults ---------------------------------------------------------------

def settings_reads() -> set[tuple[str, str, str]]:
    """``(section, key, fallback)`` for every setting the code reads by a literal name;
    ``fallback`` names the file and line of a ``.get(key, <fallback>)``, else is empty.

    Recognised: ``config["SECTION"]["key"]`` and ``.get("key")`` on it, names and
    zero-argument functions bound to a section (``cfg = current_app.config["STAFF"]``,
    ``def settings(): return current_app.config["ALERTS"]``), and ``config["KEY"]``
    for a [hotline] key (section ``""``).
    """
    defaults = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    sections = {name.upper() for name in defaults} - {"HOTLINE"}
    found: set[tuple[str, str, str]] = set()

    def literal(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            else None

    def key_of(node: ast.AST) -> tuple[ast.AST, str] | None:
        """``base["key"]`` or ``base.get("key", ...)`` -> (base, key)."""
        if isinstance(node, ast.Subscript) and literal(node.slice) is not None:
            return node.value, literal(node.slice)  # type: ignore[return-value]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args and literal(node.args[0]):
            return node.func.value, literal(node.args[0])  # type: ignore[return-value]
        return None

    def section_of(node: ast.AST, bound: dict[str, str]) -> str | None:
        if isinstance(node, ast.BoolOp):  # (config.get("SMS") or {})
            return section_of(node.values[0], bound)
        if isinstance(node, ast.Call) and not node.args and isinstance(node.func, ast.Name):
            return bound.get(node.func.id + "()")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "dict" and node.args:
            return section_of(node.args[0], bound)
        if isinstance(node, ast.Name):
            return bound.get(node.id)
        got = key_of(node)
        if got is not None and got[1] in sections:
            return got[1]
        return None

    for path in sorted((ROOT / "hotline").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: dict[str, str] = {}
        for node in ast.walk(tree):  # names and functions that stand for a section
            if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                section = section_of(node.value, bound)
                if section:
                    bound[node.targets[0].id] = section
            if isinstance(node, ast.FunctionDef) and not node.args.args \
                    and len(node.body) >= 1 and isinstance(node.body[-1], ast.Return) \
                    and node.body[-1].value is not None:
                section = section_of(node.body[-1].value, bound)
                if section:
                    bound[node.name + "()"] = section
        for node in ast.walk(tree):
            got = key_of(node)
            if got is None:
                continue
            base, key = got
            fallback = f"{path.relative_to(ROOT)}:{node.lineno}" \
                if isinstance(node, ast.Call) and len(node.args) > 1 else ""
            section = section_of(base, bound)
            if section and key.islower():
                found.add((section.lower(), key, fallback))
            elif key.isupper() and key not in sections and isinstance(base, ast.Attribute) \
                    and base.attr == "config":
                found.add(("", key, fallback))
            elif key.isupper() and key not in sections and isinstance(base, ast.Name) \
                    and base.id in ("settings", "config"):
                found.add(("", key, fallback))
    return found


# Keys the app sets itself (Flask's, or derived at start-up), not settings an operator gives.
RUNTIME_KEYS = {"ROOT", "INSTANCE_PATH", "TESTING", "MAX_CONTENT_LENGTH",
                "SQLALCHEMY_DATABASE_URI", "SQLALCHEMY_ENGINE_OPTIONS", "SESSION_COOKIE_SECURE",
                "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_NAME", "SESSION_COOKIE_HTTPONLY",
                "REMEMBER_COOKIE_DURATION", "WTF_CSRF_FIELD_NAME", "WTF_CSRF_CHECK_DEFAULT",
                "BABEL_TRANSLATION_DIRECTORIES", "BABEL_DEFAULT_LOCALE", "PREFERRED_URL_SCHEME",
                "SERVER_NAME"}


def test_every_setting_the_code_reads_is_in_defaults_toml():
    defaults = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    reads = {(section, key) for section, key, _ in settings_reads()}
    # the scan finds reads of each shape, or it would pass by finding nothing
    assert {("callbacks", "holidays"), ("limits", "ussd_busy_dial_seconds"),
            ("sms", "max_reply_parts"), ("staff", "idle_minutes"), ("alerts", "fanout_chunk"),
            ("", "DEFAULT_REGION"), ("outbox", "read_timeout")} <= reads
    missing = sorted(f"[{section or 'hotline'}] {key}" for section, key in reads
                     if (key.lower() not in defaults["hotline"] and key not in RUNTIME_KEYS
                         if not section else key not in defaults[section])
                     and (section, key) not in {("ussd", "networks")})  # optional: the site's
    assert missing == []


def test_no_code_repeats_a_default_from_defaults_toml():
    """``.get("key", <value>)`` on settings would hide a key missing from the file and
    keep a second copy of the value that drifts (it did: 0.5 s against the file's 0.25)."""
    repeated = sorted(f"{where}: [{section or 'hotline'}] {key}"
                      for section, key, where in settings_reads() if where)
    assert repeated == []


def test_a_key_missing_from_the_defaults_is_reported_not_filled_in():
    settings = load_settings(environ={})
    del settings["CALLBACKS"]["claim_minutes"]
    del settings["CALLBACKS"]["work_days"]
    with pytest.raises(ConfigError) as info:
        callback_policy.parse_settings(settings)
    assert "[callbacks] claim_minutes must be a positive number, got None" in info.value.problems
    assert "[callbacks] work_days is missing" in info.value.problems


def test_staff_search_reads_a_national_number_in_the_configured_region(app, make_app,
                                                                       monkeypatch):
    """The search once parsed numbers as Sudanese whatever ``default_region`` said."""
    quick_hashing(monkeypatch)
    egypt = make_app(DEFAULT_REGION="EG")
    with egypt.app_context():
        request_id = make_request(phone="+201001234567")
        make_user("sue@example.org", role="supervisor")
        found = Staff(egypt, "sue@example.org").post("/staff/search", {"q": "01001234567"},
                                                     page="/staff/search")
    assert found.status_code == 303 and found.location == f"/staff/requests/{request_id}"


def test_the_ussd_busy_limits_are_the_files(make_app):
    app = make_app(LIMITS={"ussd_busy_dial_seconds": 0.3, "ussd_busy_hop_seconds": 1.5,
                           "db_idle_in_transaction_ms": 120_000})
    assert app.extensions["hotline.ussd"].busy_after == (0.3, 1.5)
    defaults = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))["limits"]
    plain = make_app()
    assert plain.extensions["hotline.ussd"].busy_after == (
        defaults["ussd_busy_dial_seconds"], defaults["ussd_busy_hop_seconds"])
