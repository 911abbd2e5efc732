"""Settings checked against the content and the air before anything starts: a default
language with no texts, a network budget no phone can show, a caller window that does
not parse. Each is refused at start-up with a message naming the setting."""

import pytest

from hotline import create_app
from hotline.config import load_settings, problems
from hotline.errors import ConfigError

PRODUCTION = {"ENV": "production", "DATABASE_URL": "postgresql+psycopg://h/db",
              "REDIS_URL": "redis://127.0.0.1:6379/0", "SECRET_KEY": "s" * 40,
              "WEBHOOK_TOKEN": "t" * 40, "AT_USERNAME": "mrrc", "AT_API_KEY": "k"}


def found(**overrides) -> list[str]:
    return problems(load_settings(overrides, environ={}))


def test_the_defaults_have_no_problem():
    assert found() == []


def test_a_default_language_without_content_is_refused():
    settings = load_settings(environ={"HOTLINE_DEFAULT_LANGUAGE": "fr"})
    assert problems(settings) == [
        "HOTLINE_DEFAULT_LANGUAGE must be one of the content languages (ar, en), got 'fr'"]


def test_production_refuses_to_start_on_a_default_language_without_content():
    with pytest.raises(ConfigError) as info:
        create_app({**PRODUCTION, "DEFAULT_LANGUAGE": "fr"})
    assert info.value.problems == [
        "HOTLINE_DEFAULT_LANGUAGE must be one of the content languages (ar, en), got 'fr'"]


def test_development_refuses_it_too_rather_than_fail_every_first_dial():
    with pytest.raises(ConfigError, match="HOTLINE_DEFAULT_LANGUAGE"):
        create_app({"DEFAULT_LANGUAGE": "fr"})


def test_a_sane_network_budget_passes():
    assert found(USSD={"networks": {"63401": {"gsm7_budget": 182, "ucs2_budget": 80}}}) == []
    assert found(USSD={"networks": {"63402": {"ucs2_budget": 60}}}) == []


@pytest.mark.parametrize(("networks", "message"), [
    ({"63401": {"gsm7_budget": 0}},
     "[ussd.networks.63401]: gsm7_budget must be a whole number from 40 to 182 (what a USSD "
     "screen can hold), got 0"),
    ({"63401": {"ucs2_budget": 160}},
     "[ussd.networks.63401]: ucs2_budget must be a whole number from 40 to 91 (what a USSD "
     "screen can hold), got 160"),
    ({"63401": {"gsm7_budget": "182"}},
     "[ussd.networks.63401]: gsm7_budget must be a whole number from 40 to 182 (what a USSD "
     "screen can hold), got '182'"),
    ({"63401": {"gsm7": 150}}, "[ussd.networks.63401]: unknown key 'gsm7'"),
    ({"zain": {"gsm7_budget": 150}},
     "[ussd.networks.zain]: a network code is 5 or 6 digits (MCC and MNC), got 'zain'"),
    ({"63401": 150}, "[ussd.networks.63401]: must be a table of gsm7_budget and ucs2_budget"),
    ("63401", "[ussd.networks] must be a table of network codes"),
])
def test_a_network_budget_no_phone_can_show_is_refused(networks, message):
    assert message in found(USSD={"networks": networks})


def test_production_refuses_to_start_on_a_bad_network_budget():
    with pytest.raises(ConfigError) as info:
        create_app({**PRODUCTION, "USSD": {"networks": {"63401": {"ucs2_budget": 500}}}})
    assert len(info.value.problems) == 1 and "ucs2_budget" in info.value.problems[0]


@pytest.mark.parametrize(("window", "message"), [
    ("18:00-15:00", "hours '18:00-15:00' end before they start"),
    ("evenings", "hours must look like 08:00-15:00, got 'evenings'"),
])
def test_production_refuses_to_start_on_a_window_that_does_not_parse(window, message):
    with pytest.raises(ConfigError) as info:
        create_app({**PRODUCTION, "CALLBACKS": {"windows": {"evening": window}}})
    assert info.value.problems == [f"[callbacks] {message}"]
