"""Everything ``hotline check`` proves about flows and content, as one list of problems."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hotline.content import REFERENCE_LANGUAGE, Catalog, load_catalog, placeholders
from hotline.errors import ScreenTooLong
from hotline.flows.engine import NAV_KEYS, Choices, Engine
from hotline.flows.spec import Graph, load_graph
from hotline.textcodec import Budget, measure, sms_parts

SMS_PREFIX = "sms"  # texts of content files whose name starts so (sms.yaml, smsreply.yaml)
SAMPLE_VALUE = "ABCD2345"
# A check another part of the code adds: its problems, and the content keys it uses
# itself (so they are neither "unused" nor checked as screens).
Hook = Callable[[Catalog], tuple[list[str], set[str]]]


@dataclass
class Checked:
    """The loaded graph and catalog, with every problem found in either."""

    graph: Graph | None
    catalog: Catalog
    problems: list[str] = field(default_factory=list)


def is_sms(key: str) -> bool:
    """SMS texts are used by code, not flows, and measured in SMS parts, not screens."""
    return key.split(".", 1)[0].startswith(SMS_PREFIX)


def _sample(names: Iterable[str], values: Mapping[str, str]) -> dict[str, str]:
    return {n: values.get(n, SAMPLE_VALUE) for n in names}


def check_all(root: Path, *, values: Mapping[str, str], budgets: Iterable[Budget],
              action_names: Iterable[str] | None = None,
              action_vars: Iterable[str] = (), code_keys: Iterable[str] = (),
              sms_max_parts: int = 3, gsm7_languages: Iterable[str] = (REFERENCE_LANGUAGE,),
              hooks: Iterable[Hook] = (),
              choices: Callable[[Catalog], Mapping[str, Choices]] | None = None
              ) -> Checked:
    """Load ``root/flows`` and ``root/content`` and list every problem, never stopping early."""
    catalog, problems = load_catalog(root / "content", gsm7_languages)
    graph, flow_problems = load_graph(root / "flows")
    problems += flow_problems
    langs = catalog.languages
    lists = choices(catalog) if choices is not None else None
    owned: set[str] = set()
    for hook in hooks:
        found, keys = hook(catalog)
        problems += found
        owned |= keys
    system = set(NAV_KEYS) | set(code_keys)
    for key in sorted(system):
        for lang in langs:
            if not catalog.has(lang, key):
                problems.append(f"content/{lang}/{key.split('.')[0]}.yaml: missing key {key} "
                                "(used by the code)")
    if graph is None:
        return Checked(None, catalog, problems)
    known_vars = set(values) | graph.variables() | set(action_vars) | {"lang"}
    used = graph.content_keys()
    for key, node_id in sorted(used.items()):
        for lang in langs:
            if not catalog.has(lang, key):
                problems.append(f"{graph[node_id].source}: content key {key} missing in "
                                f"content/{lang}/{key.split('.')[0]}.yaml")
    for key in sorted(catalog.keys() - set(used) - system - owned):
        if not is_sms(key):
            problems.append(f"{catalog.source(REFERENCE_LANGUAGE, key)}: key {key} is not used "
                            "by any flow")
    for lang in langs:
        for key in sorted(catalog.keys(lang) - owned):
            unknown = placeholders(catalog.text(lang, key)) - known_vars
            if unknown:
                problems.append(f"{catalog.source(lang, key)}: {key}: unknown placeholder(s) "
                                f"{sorted(unknown)}")
            if is_sms(key):
                text = catalog.render(lang, key, _sample(known_vars, values))
                parts = sms_parts(text)
                if parts > sms_max_parts:
                    cost = measure(text)
                    problems.append(f"{catalog.source(lang, key)}: {key}: SMS of {parts} parts "
                                    f"({cost.units} {cost.encoding} characters); at most "
                                    f"{sms_max_parts}")
    names = None if action_names is None else set(action_names)
    for node in graph.nodes.values():
        if names is not None and node.kind == "action" and node.action not in names:
            problems.append(f"{node.source}: unknown action {node.action!r}")
        for option in node.options:
            if "lang" in option.set and option.set["lang"] not in langs:
                problems.append(f"{node.source}: language {option.set['lang']!r} has no content")
        if node.kind == "choose" and lists is not None and node.choices not in lists:
            problems.append(f"{node.source}: unknown list {node.choices!r}")
        if len(node.options) >= 98:
            problems.append(f"{node.source}: more than 97 options clash with 98 (more)")
    if problems:
        return Checked(graph, catalog, problems)
    sample = _sample(known_vars - set(values), values)
    for budget in set(budgets):
        engine = Engine(graph, catalog, values=values, budget=budget, choices=lists)
        for node in graph.nodes.values():
            if node.kind == "action":
                continue
            for lang in langs:
                try:
                    engine.pages(node.id, lang, sample)
                except ScreenTooLong as exc:
                    problems.append(f"{node.source} ({lang}): over the screen budget "
                                    f"{budget.gsm7} GSM-7 / {budget.ucs2} UCS-2: {exc}")
    return Checked(graph, catalog, problems)


def report(checked: Checked, *, values: Mapping[str, str], budget: Budget) -> list[str]:
    """One line per screen: node, language, page, characters used of the budget, encoding."""
    graph, catalog = checked.graph, checked.catalog
    if graph is None:
        return []
    engine = Engine(graph, catalog, values=values, budget=budget)
    sample = _sample(graph.variables(), values)
    lines = []
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        if node.kind == "action":
            continue
        for lang in catalog.languages:
            pages = engine.pages(node.id, lang, sample)
            for i, body in enumerate(pages, 1):
                nav_more, nav_last = engine.navs(node.id, lang, first_page=i == 1)
                nav = nav_last if i == len(pages) else nav_more
                cost = measure(f"{body}\n{nav}" if nav else body)
                lines.append(f"{node.id:<32} {lang:<3} {i}/{len(pages)} "
                             f"{cost.units:>3}/{budget.limit(cost.encoding):<3} {cost.encoding}")
    for lang in catalog.languages:
        for key in sorted(k for k in catalog.keys(lang) if is_sms(k)):
            text = catalog.render(lang, key, _sample(graph.variables(), values))
            cost = measure(text)
            lines.append(f"{key:<32} {lang:<3} sms {cost.units:>3} chars {cost.encoding} "
                         f"{sms_parts(text)} part(s)")
    return lines
