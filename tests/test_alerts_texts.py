"""Alert templates, areas and their proof by ``hotline check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline import alerttexts, areas
from hotline.config import load_settings
from hotline.content import Catalog
from hotline.textcodec import measure, sms_parts
from tests.test_cli import run

SETTINGS = load_settings()["ALERTS"]
TEMPLATES, _ = alerttexts.parse_templates(SETTINGS["templates"])


@pytest.fixture(scope="module")
def catalog(specs) -> Catalog:
    return specs[0].catalog


def longest(catalog: Catalog, lang: str, template) -> str:
    day = max(alerttexts.DAYS, key=lambda d: len(catalog.render(lang, f"alerts.day.{d}")))
    return alerttexts.render(catalog, lang, template, {"day": day, "place": "W" * 20},
                             areas.load().longest_name(lang))


def test_every_template_ends_with_the_sign_off_within_two_parts_in_each_language(catalog):
    assert {"free_trips", "info_day", "closure", "health"} <= set(TEMPLATES)
    assert TEMPLATES["closure"].urgent and not TEMPLATES["free_trips"].urgent
    for lang in ("en", "ar"):
        for template in TEMPLATES.values():
            text = longest(catalog, lang, template)
            assert text.endswith("\n" + catalog.render(lang, "alerts.signoff"))
            assert sms_parts(text) <= 2, (lang, template.name, measure(text))
            assert "{" not in text
    assert "never asks for money" in catalog.render("en", "alerts.signoff")
    assert measure(longest(catalog, "en", TEMPLATES["free_trips"])).encoding == "GSM-7"


def test_hotline_check_fails_a_template_over_two_parts(workcopy: Path):
    path = workcopy / "content" / "ar" / "alerts.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "حملة صحية مجانية {day}", "حملة صحية مجانية وكبيرة وطويلة جدا جدا جدا جدا جدا {day}"),
        encoding="utf-8")
    result = run("check", "--root", str(workcopy))
    assert result.exit_code == 1
    assert "content/ar/alerts.yaml: alerts.tpl.health.body: 3 SMS parts" in result.output


def test_hotline_check_fails_a_template_whose_fields_differ(workcopy: Path):
    path = workcopy / "content" / "en" / "alerts.yaml"
    path.write_text(path.read_text().replace("closed {day}", "closed {when}"))
    result = run("check", "--root", str(workcopy))
    assert result.exit_code == 1
    assert "alerts.tpl.closure.body: placeholders ['place', 'when'] must be the template's " \
           "fields ['day', 'place']" in result.output


def test_bad_alert_settings_stop_start_up_naming_each(make_app):
    from hotline.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_app(ALERTS={"quiet_hours": "9pm-7am", "daily_cap": 0, "pin_tries": "3",
                         "cost_per_part": -1})
    text = str(caught.value)
    for fragment in ("quiet_hours must look like 21:00-07:00", "daily_cap must be a positive",
                     "pin_tries must be a positive", "cost_per_part must be a number"):
        assert fragment in text
    assert alerttexts.settings_problems(SETTINGS) == []


def test_bad_template_settings_are_listed():
    found, problems = alerttexts.parse_templates({
        "ok": {"topic": "safety", "fields": ["area"]},
        "Bad Name": {"topic": "safety"},
        "x": {"topic": "gossip", "urgent": "yes", "fields": ["phone"]},
    })
    assert set(found) == {"ok", "x"}
    assert len(problems) == 4 and any("topic must be one of" in p for p in problems)


@pytest.mark.parametrize(("typed", "kept"), [
    ("Airport Rd", "Airport Rd"), ("  Souq  Libya ", "Souq Libya"), ("Block 12-B.", "Block 12-B."),
    ("W" * 20, "W" * 20), ("W" * 21, None), ("", None), ("<script>", None), ("{area}", None),
    ("http://x.io", None), ("سوق ليبيا", None), ("-dash first", None), ("a\nb", "a b"),
])
def test_a_typed_place_is_kept_only_when_safe_for_every_language(typed, kept):
    assert alerttexts.clean_place(typed, 20) == kept


def test_areas_have_stable_codes_and_both_names():
    known = areas.load()
    assert len(known.states()) == 18 and len(known.localities("SD-KH")) == 7
    assert known.get("KH-OMD").name("ar") == "أم درمان" and known.get("KH-OMD").parent == "SD-KH"
    assert known.reach(["KH-OMD"]) == {"KH-OMD", "SD-KH"}
    assert known.reach(["SD-KH"]) >= {"SD-KH", "KH-OMD", "KH-BHR"}
    assert known.reach(["XX-XX"]) == set()
    assert known.find("omdurman").code == "KH-OMD"
    assert known.find("ام درمان").code == "KH-OMD"  # hamza written or not
    assert known.find("sd-gd").code == "SD-GD"
    assert known.find("Atlantis") is None and known.find("  ") is None


def test_broken_area_data_lists_every_problem():
    _, problems = areas.parse({
        "states": [{"code": "SD-KH", "ar": "الخرطوم", "en": "Khartoum"},
                   {"code": "SD-KH", "ar": "x", "en": "y"},
                   {"code": "bad", "en": "Only English"}, "nonsense"],
        "localities": {"SD-ZZ": [{"code": "ZZ-AAA", "ar": "a", "en": "b"}]},
    })
    text = "\n".join(problems)
    assert "appears twice" in text and "must look like" in text and "needs names in ar and en" \
        in text and "needs code" in text and "unknown state 'SD-ZZ'" in text
