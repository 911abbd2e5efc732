import pytest

from hotline import create_app
from hotline.config import load_settings, problems
from hotline.errors import ConfigError


def test_environment_overrides_defaults_and_overrides_win():
    env = {"HOTLINE_USSD_SERVICE_CODE": "*123#", "HOTLINE_DATABASE_URL": "postgresql://x/y",
           "HOTLINE_UNKNOWN": "ignored", "OTHER": "ignored"}
    settings = load_settings({"DATABASE_URL": "postgresql://a/b"}, environ=env)
    assert settings["USSD_SERVICE_CODE"] == "*123#"
    assert settings["DATABASE_URL"] == "postgresql://a/b"
    assert "UNKNOWN" not in settings
    assert settings["USSD"]["gsm7_budget"] == 160


def test_section_overrides_merge():
    settings = load_settings({"USSD": {"ucs2_budget": 80}}, environ={})
    assert settings["USSD"]["ucs2_budget"] == 80 and settings["USSD"]["gsm7_budget"] == 160


def test_production_lists_every_problem_at_once():
    with pytest.raises(ConfigError) as info:
        create_app({"ENV": "production", "DATABASE_URL": "", "REDIS_URL": "",
                    "SECRET_KEY": "short", "WEBHOOK_TOKEN": "", "USSD_SERVICE_CODE": "",
                    "AT_USERNAME": "", "AT_API_KEY": ""})
    text = str(info.value)
    for name in ("HOTLINE_SECRET_KEY", "HOTLINE_WEBHOOK_TOKEN", "HOTLINE_DATABASE_URL",
                 "HOTLINE_REDIS_URL", "HOTLINE_USSD_SERVICE_CODE", "HOTLINE_AT_USERNAME",
                 "HOTLINE_AT_API_KEY"):
        assert name in text
    assert len(info.value.problems) == 7


def test_production_with_everything_set_has_no_problem():
    settings = load_settings({
        "ENV": "production", "DATABASE_URL": "postgresql+psycopg://h/db",
        "REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "s" * 40,
        "WEBHOOK_TOKEN": "t" * 32, "AT_USERNAME": "mrrc", "AT_API_KEY": "k"}, environ={})
    assert problems(settings) == []


def test_invalid_environment_and_budget_are_reported():
    settings = load_settings({"ENV": "staging", "USSD": {"ucs2_budget": 0}}, environ={})
    found = problems(settings)
    assert any("HOTLINE_ENV" in p for p in found)
    assert any("ucs2_budget" in p for p in found)


def test_development_generates_and_keeps_secrets(tmp_path, monkeypatch):
    from hotline.config import fill_development_secrets

    first: dict = {"SECRET_KEY": "", "WEBHOOK_TOKEN": ""}
    fill_development_secrets(first, tmp_path)
    second: dict = {"SECRET_KEY": "", "WEBHOOK_TOKEN": ""}
    fill_development_secrets(second, tmp_path)
    assert first == second and len(first["WEBHOOK_TOKEN"]) >= 32
    assert (tmp_path / "dev-secrets.json").stat().st_mode & 0o077 == 0


def test_callback_settings_are_checked_at_start_up_with_the_rest():
    with pytest.raises(ConfigError) as info:
        create_app({"ENV": "staging", "CALLBACKS": {"work_hours": "18:00-08:00",
                                                    "max_attempts": 0}})
    text = str(info.value)
    assert "HOTLINE_ENV" in text and "18:00-08:00" in text and "max_attempts" in text


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(make_app):
    from flask import request

    app = make_app(PROXY_HOPS="1")
    app.add_url_rule("/_whoami", "whoami", lambda: request.remote_addr)
    client = app.test_client()
    seen = client.get("/_whoami", headers={"X-Forwarded-For": "203.0.113.7"}).get_data(True)
    assert seen == "203.0.113.7"
    direct = make_app().test_client()
    direct.application.add_url_rule("/_whoami", "whoami", lambda: request.remote_addr)
    assert direct.get("/_whoami", headers={"X-Forwarded-For": "203.0.113.7"}).get_data(True) \
        == "127.0.0.1"


def test_proxy_hops_must_be_a_small_number():
    assert any("PROXY_HOPS" in p for p in problems(load_settings({"PROXY_HOPS": "x"}, environ={})))


def production(**changes):
    return load_settings({
        "ENV": "production", "DATABASE_URL": "postgresql+psycopg://h/db",
        "REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "s" * 40,
        "WEBHOOK_TOKEN": "t" * 32, "AT_USERNAME": "mrrc", "AT_API_KEY": "k", **changes},
        environ={})


@pytest.mark.parametrize("url, refused", [
    ("redis://10.0.0.5:6379/0", True),
    ("redis://redis.internal:6379/0", True),
    ("rediss://:s3cret-password@redis.internal:6380/0", False),
    ("redis://default:s3cret-password@10.0.0.5:6379/0", False),
    ("redis://localhost:6379/0", False),
    ("redis://[::1]:6379/0", False),
    ("unix:///run/redis/redis.sock?db=0", False),
])
def test_production_refuses_redis_others_can_reach_without_a_password(url, refused):
    found = problems(production(REDIS_URL=url))
    assert any("needs a password" in p for p in found) is refused, found


def test_production_refuses_a_webhook_token_shorter_than_32_characters():
    assert any("HOTLINE_WEBHOOK_TOKEN" in p for p in problems(production(WEBHOOK_TOKEN="t" * 31)))
    assert problems(production(WEBHOOK_TOKEN="t" * 32)) == []


def test_every_time_limit_must_be_a_positive_number():
    found = problems(load_settings({"LIMITS": {"ussd_hop_seconds": 0,
                                               "redis_socket_timeout": "fast"}}, environ={}))
    assert any("ussd_hop_seconds" in p for p in found)
    assert any("redis_socket_timeout" in p for p in found)


def test_x_forwarded_for_without_trusted_proxies_is_ignored_and_logged_once(make_app, caplog):
    app = make_app(PROXY_HOPS=0)

    @app.get("/whoami")
    def whoami():
        from flask import request

        return request.remote_addr or ""

    client = app.test_client()
    with caplog.at_level("WARNING", logger="hotline"):
        answers = [client.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"},
                              environ_base={"REMOTE_ADDR": "192.0.2.1"}).get_data(as_text=True)
                   for _ in range(3)]
    assert answers == ["192.0.2.1"] * 3  # the socket's address, not the header's
    warnings = [r for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warnings) == 1 and "HOTLINE_PROXY_HOPS" in warnings[0].getMessage()


def test_time_limits_that_could_not_answer_the_gateway_in_time_are_refused():
    found = problems(load_settings({"LIMITS": {"ussd_hop_seconds": 7.0, "ready_seconds": 2}},
                                   environ={}))
    assert any("a USSD hop could take 10 s" in p for p in found)
    assert any("ready_seconds must be under 2" in p for p in found)
    assert problems(load_settings(environ={})) == []
