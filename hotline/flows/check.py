"""Everything ``hotline check`` proves about flows and content, as one list of problems."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hotline.content import REFERENCE_LANGUAGE, Catalog, Value, load_catalog, placeholders
from hotline.errors import ScreenTooLong
from hotline.flows import textrules
from hotline.flows.engine import NAV_KEYS, Choices, Engine, State, replace_actions
from hotline.flows.spec import Graph, Node, load_graph
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


def _sample(names: Iterable[str], values: Mapping[str, Value]) -> dict[str, Value]:
    return {n: values.get(n, SAMPLE_VALUE) for n in names}


def _unset(names: Iterable[str], values: Mapping[str, Value]) -> dict[str, str]:
    """Sample text for the variables a session fills (the engine already has ``values``)."""
    return {n: SAMPLE_VALUE for n in names if n not in values}


def check_all(root: Path, *, values: Mapping[str, Value], budgets: Iterable[Budget],
              action_names: Iterable[str] | None = None,
              action_vars: Iterable[str] = (), code_keys: Iterable[str] = (),
              sms_max_parts: int = 3, gsm7_languages: Iterable[str] = (REFERENCE_LANGUAGE,),
              windows: Mapping[str, str] | None = None, screen_keys: Iterable[str] = (),
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
    known_vars = set(values) | graph.variables() | set(action_vars) | {"lang", "hours"}
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
    problems += textrules.problems(catalog, values)
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
    sample = _unset(known_vars, values)
    for budget in set(budgets):
        engine = Engine(graph, catalog, values=values, budget=budget, windows=windows,
                        choices=lists)
        problems += _screens(engine, sample)
        problems += _code_screens(catalog, screen_keys, budget)
    return Checked(graph, catalog, problems)


def _screens(engine: Engine, sample: Mapping[str, str]) -> list[str]:
    """Render every screen a caller can reach, as the caller sees it, and measure it.

    Every page of every node (so the last page of every paginated menu), in every
    language, with and without the invalid-input hint, as a returning caller sees the
    main menu and as anyone sees it after moving on; the language screen also before
    any language is known. Page layout guarantees most of this; rendering proves it.
    """
    problems: list[str] = []
    graph, catalog, budget = engine.graph, engine.catalog, engine.budget
    where = f"{budget.gsm7} GSM-7 / {budget.ucs2} UCS-2"
    for lang in catalog.languages:
        more, back, home = (catalog.render(lang, k) for k in NAV_KEYS[:3])
        hint = catalog.render(lang, "nav.invalid")
        if not budget.fits(f"{hint}\n{more}\n{back}") or not budget.fits(f"{hint}\n{back}\n{home}"):
            problems.append(f"{catalog.source(lang, 'nav.invalid')}: nav.invalid: the hint and "
                            f"the navigation lines do not fit a screen of {where}: callers "
                            "would never see it")
    for node in graph.nodes.values():
        if node.kind == "action":
            continue
        langs: list[tuple[Engine, str | None]] = [(engine, lg) for lg in catalog.languages]
        if node.multilingual:  # before a language is chosen, in each default language
            for default in catalog.languages:
                twin = replace_actions(engine, engine.actions)
                twin.default_lang = default
                langs.append((twin, None))
        for eng, maybe_lang in langs:
            try:
                problems += _node_screens(eng, node, maybe_lang, sample, where)
            except ScreenTooLong as exc:
                problems.append(f"{node.source} ({maybe_lang or 'every language'}): over the "
                                f"screen "
                                f"budget {where}: {exc}")
    return problems


def _node_screens(engine: Engine, node: Node, lang: str | None, sample: Mapping[str, str],
                  where: str) -> list[str]:
    graph = engine.graph
    pages = engine.pages(node.id, lang or engine.default_lang, sample)
    if node.kind == "end" and len(pages) > 1:
        return [f"{node.source} ({lang}): an end screen must fit one screen of {where}; "
                f"it needs {len(pages)}"]
    # The main menu is the root (entering it clears the history); any other screen is
    # drawn as after moving on from another, and the first screen also as a dial shows it.
    histories: list[tuple[tuple[str, int], ...]] = \
        [()] if node.id == graph.home else [((graph.home, 0),), ((graph.start, 0),)]
    if node.id == graph.start:
        histories.append(())
    problems = []
    for page in range(len(pages)):
        for history in histories:
            for hint in (False, True):
                state = State(node.id, lang=lang, page=page, history=history, vars=sample,
                              ended=node.kind == "end")
                screen = engine.render(state, hint=hint)
                if screen.units > screen.limit:
                    problems.append(
                        f"{node.source} ({lang or 'every language'}) page {page + 1}/"
                        f"{len(pages)}{' with the invalid-input hint' if hint else ''}: "
                        f"{screen.units} {screen.encoding} characters, over {screen.limit}")
    return problems


def _code_screens(catalog: Catalog, keys: Iterable[str], budget: Budget) -> list[str]:
    """Screens the code shows whole (errors): in each language, and in all at once."""
    problems = []
    for key in keys:
        texts = [catalog.render(lang, key) for lang in catalog.languages if catalog.has(lang, key)]
        for lang, text in zip(catalog.languages, texts, strict=False):
            if not budget.fits(text):
                problems.append(f"{catalog.source(lang, key)}: {key}: over the screen budget "
                                f"({measure(text).units} characters)")
        both = "\n".join(texts)
        if len(texts) > 1 and not budget.fits(both):
            cost = measure(both)
            problems.append(f"content/*/{key.split('.')[0]}.yaml: {key}: in every language at "
                            f"once (for a caller whose language we do not know) "
                            f"{cost.units} {cost.encoding} characters, over "
                            f"{budget.limit(cost.encoding)}")
    return problems


def report(checked: Checked, *, values: Mapping[str, Value], budget: Budget,
           windows: Mapping[str, str] | None = None) -> list[str]:
    """One line per screen: node, language, page, characters used of the budget, encoding."""
    graph, catalog = checked.graph, checked.catalog
    if graph is None:
        return []
    engine = Engine(graph, catalog, values=values, budget=budget, windows=windows)
    sample = _unset(graph.variables(), values)
    lines = []
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        if node.kind == "action":
            continue
        for lang in catalog.languages:
            pages = engine.pages(node.id, lang, sample)
            for i, body in enumerate(pages, 1):
                nav_more, nav_last = engine.navs(node.id, lang, first_page=i == 1)
                nav = "" if node.kind == "end" else nav_last if i == len(pages) else nav_more
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
