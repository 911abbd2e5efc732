"""Alert texts: approved templates, the fields a leader fills, and the lists USSD shows.

Pure: everything here is a function of the catalog, the areas and the
``[alerts]`` settings, so ``hotline check`` can prove each template fits its SMS
budget in every language for the longest values a leader can give.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hotline.areas import Areas
from hotline.content import Catalog, placeholders
from hotline.flows.engine import Choices
from hotline.textcodec import measure, sms_parts

TOPICS = ("safety", "services", "tips")
DAYS = ("today", "tomorrow", "sun", "mon", "tue", "wed", "thu", "fri", "sat")
FIELDS = ("area", "day", "place")
SIGNOFF = "alerts.signoff"
WHOLE_STATE = "alerts.area.whole"
# A typed place goes into every language's text: Latin letters, digits and a few marks
# keep each language's encoding (and so its SMS budget) what the check proved, and
# cannot inject anything (no braces, no line breaks, no links' "://").
PLACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .\-]*$")


@dataclass(frozen=True)
class Template:
    name: str
    topic: str
    urgent: bool
    fields: tuple[str, ...]

    def title_key(self) -> str:
        return f"alerts.tpl.{self.name}.title"

    def body_key(self) -> str:
        return f"alerts.tpl.{self.name}.body"


def parse_templates(raw: Mapping[str, object]) -> tuple[dict[str, Template], list[str]]:
    """The ``[alerts.templates.*]`` settings, with every problem in them."""
    found: dict[str, Template] = {}
    problems: list[str] = []
    for name, spec in raw.items():
        where = f"config [alerts.templates.{name}]"
        if not isinstance(spec, Mapping) or not re.match(r"^[a-z0-9_]{1,40}$", name):
            problems.append(f"{where}: a template needs a lower-case name and topic, urgent, "
                            "fields")
            continue
        topic, urgent, fields = spec.get("topic"), spec.get("urgent", False), \
            spec.get("fields", [])
        if topic not in TOPICS:
            problems.append(f"{where}: topic must be one of {', '.join(TOPICS)}")
        if not isinstance(urgent, bool):
            problems.append(f"{where}: urgent must be true or false")
        if not isinstance(fields, list) or not set(fields) <= set(FIELDS):
            problems.append(f"{where}: fields must be a list of {', '.join(FIELDS)}")
            fields = []
        found[name] = Template(name, str(topic), bool(urgent), tuple(fields))
    return found, problems


WHOLE_NUMBERS = ("daily_cap", "max_parts", "expiry_hours", "pin_tries", "pin_lock_minutes",
                 "place_max", "fanout_chunk")
HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def settings_problems(alerts: Mapping[str, object]) -> list[str]:
    """What is wrong with ``[alerts]``, all at once, so start-up names every mistake."""
    found = []
    for key in WHOLE_NUMBERS:
        value = alerts.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            found.append(f"[alerts] {key} must be a positive whole number, got {value!r}")
    quiet = str(alerts.get("quiet_hours", ""))
    match = HOURS.match(quiet.replace(" ", ""))
    if not match or quiet.split("-")[0].strip() == quiet.split("-")[1].strip():
        found.append(f"[alerts] quiet_hours must look like 21:00-07:00, got {quiet!r}")
    cost = alerts.get("cost_per_part")
    if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
        found.append(f"[alerts] cost_per_part must be a number of 0 or more, got {cost!r}")
    return found


def clean_place(typed: str, max_len: int) -> str | None:
    """A place as it will be printed, or None when it cannot go into an alert."""
    text = " ".join(typed.split())
    if not text or len(text) > max_len or not PLACE.match(text):
        return None
    return text


def field_values(catalog: Catalog, lang: str, fields: Mapping[str, str], area_name: str
                 ) -> dict[str, str]:
    """What each placeholder prints in ``lang``: the day in words, the area by its name."""
    values = {"area": area_name, "place": fields.get("place", "")}
    day = fields.get("day", "")
    if day in DAYS:
        values["day"] = catalog.render(lang, f"alerts.day.{day}")
    return values


def render(catalog: Catalog, lang: str, template: Template, fields: Mapping[str, str],
           area_name: str) -> str:
    """The SMS a subscriber reading ``lang`` gets; the sign-off is always the last line."""
    body = catalog.render(lang, template.body_key(), field_values(catalog, lang, fields,
                                                                  area_name))
    return f"{body}\n{catalog.render(lang, SIGNOFF)}"


def with_signoff(catalog: Catalog, lang: str, text: str) -> str:
    """A free-text alert as it goes out: what was approved, then the fixed sign-off."""
    return f"{text}\n{catalog.render(lang, SIGNOFF)}"


SMS_KEYS = ("alerts.sms.summary", "alerts.sms.joined", "alerts.sms.join_help",
            "alerts.sms.pin_locked")
SMS_SAMPLE = {"bref": "A123456", "sent": "100000", "delivered": "100000", "failed": "100000",
              "leader": "W" * 20}


def owned_keys(catalog: Catalog, templates: Mapping[str, Template]) -> set[str]:
    """Content keys the alert code uses rather than a flow."""
    keys = {SIGNOFF, WHOLE_STATE, *SMS_KEYS} | {f"alerts.day.{d}" for d in DAYS}
    for t in templates.values():
        keys |= {t.title_key(), t.body_key()}
    return keys


def check(catalog: Catalog, templates: Mapping[str, Template], areas: Areas, *,
          max_parts: int, place_max: int) -> tuple[list[str], set[str]]:
    """Every problem of the alert texts, and the keys they own (for ``hotline check``).

    Each template is rendered in each language with the longest value each field
    can take there (the longest area name, the longest day, a place of
    ``place_max`` characters) and must fit ``max_parts`` SMS parts.
    """
    problems: list[str] = []
    keys = owned_keys(catalog, templates)
    for lang in catalog.languages:
        for key in sorted(keys):
            if not catalog.has(lang, key):
                problems.append(f"content/{lang}/alerts.yaml: missing key {key} (used by alerts)")
        if problems:
            continue
        for key in SMS_KEYS:  # the code's own SMS: one part, with the longest values
            sms = catalog.render(lang, key, {**SMS_SAMPLE, "area_name": areas.longest_name(lang)})
            if sms_parts(sms) > 1:
                problems.append(f"{catalog.source(lang, key)}: {key}: {sms_parts(sms)} SMS parts; "
                                "at most 1")
        longest_day = max(DAYS, key=lambda d: len(catalog.render(lang, f"alerts.day.{d}")))
        for t in templates.values():
            source = catalog.source(lang, t.body_key())
            used = placeholders(catalog.text(lang, t.body_key()))
            if used != set(t.fields):
                problems.append(f"{source}: {t.body_key()}: placeholders {sorted(used)} must be "
                                f"the template's fields {sorted(t.fields)}")
                continue
            text = render(catalog, lang, t, {"day": longest_day, "place": "W" * place_max},
                          areas.longest_name(lang))
            parts = sms_parts(text)
            if parts > max_parts:
                cost = measure(text)
                problems.append(f"{source}: {t.body_key()}: {parts} SMS parts with the longest "
                                f"fields ({cost.units} {cost.encoding} characters); at most "
                                f"{max_parts}")
    return problems, keys


def check_hook(alerts: Mapping[str, object], areas: Areas, area_problems: Sequence[str]):
    """The ``hotline check`` hook for these ``[alerts]`` settings and areas."""
    templates, problems = parse_templates(alerts.get("templates") or {})  # type: ignore[arg-type]

    def hook(catalog: Catalog) -> tuple[list[str], set[str]]:
        found, keys = check(catalog, templates, areas, max_parts=int(alerts["max_parts"]),
                            place_max=int(alerts["place_max"]))
        return [*area_problems, *problems, *found], keys

    return hook


def choice_lists(catalog: Catalog, areas: Areas, templates: Mapping[str, Template]
                 ) -> dict[str, Choices]:
    """The lists ``choose`` nodes of flows/alerts.yaml show; pure functions of the session."""

    def states(lang: str, vars: Mapping[str, str]) -> Sequence[tuple[str, str]]:
        return [(a.name(lang), a.code) for a in areas.states()]

    def localities(lang: str, vars: Mapping[str, str]) -> Sequence[tuple[str, str]]:
        state = areas.get(vars.get("state", ""))
        if state is None:
            return []
        whole = catalog.render(lang, WHOLE_STATE, {"name": state.name(lang)})
        return [(whole, state.code)] + [(a.name(lang), a.code)
                                        for a in areas.localities(state.code)]

    def scope(lang: str, vars: Mapping[str, str]) -> Sequence[tuple[str, str]]:
        """Only the areas the leader may reach: others are not options at all."""
        return [(a.name(lang), a.code) for code in vars.get("scope", "").split(",")
                if (a := areas.get(code)) is not None]

    def template_list(lang: str, vars: Mapping[str, str]) -> Sequence[tuple[str, str]]:
        return [(catalog.render(lang, t.title_key()), t.name) for t in templates.values()]

    def days(lang: str, vars: Mapping[str, str]) -> Sequence[tuple[str, str]]:
        return [(catalog.render(lang, f"alerts.day.{d}"), d) for d in DAYS]

    return {"areas.states": states, "areas.localities": localities, "leader.scope": scope,
            "alerts.templates": template_list, "alerts.days": days}


def names(codes: Iterable[str], areas: Areas, lang: str) -> str:
    return ", ".join(a.name(lang) for c in codes if (a := areas.get(c)) is not None)
