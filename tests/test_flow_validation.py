"""``hotline check`` on flows and content: each rule reports its own readable message,
all problems at once, and no flow file, however wrong, ends in a traceback."""

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.flows.check import check_all
from hotline.flows.spec import load_graph
from hotline.textcodec import Budget

MINI = Path(__file__).parent / "data" / "mini"
VALUES = {"place": {"en": "Khartoum", "ar": "الخرطوم"}}


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    shutil.copytree(MINI, tmp_path / "mini")
    return tmp_path / "mini"


def problems(root: Path, action_names=("record",)) -> list[str]:
    return check_all(root, values=VALUES, budgets=[Budget()], action_names=set(action_names),
                     action_vars={"ref"}).problems


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def flow(root: Path) -> Path:
    return root / "flows" / "main.yaml"


def test_the_untouched_fixture_has_no_problem(copy):
    assert problems(copy) == []


def test_unknown_placeholder(copy):
    for lang in ("en", "ar"):
        path = copy / "content" / lang / "t.yaml"
        text = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(ln.replace('"', ' {nobody}"', 2).replace(' {nobody}"', '"', 1)
                                  if ln.startswith("menu:") else ln for ln in text) + "\n",
                        encoding="utf-8")
    found = problems(copy)
    assert "content/en/t.yaml: t.menu: unknown placeholder(s) ['nobody']" in found
    assert "content/ar/t.yaml: t.menu: unknown placeholder(s) ['nobody']" in found


def test_unreachable_node(copy):
    edit(flow(copy), "  done:\n", "  orphan:\n    kind: end\n    text: t.done\n  done:\n")
    assert "flows/main.yaml: node orphan: unreachable from the main menu" in problems(copy)


def test_placeholder_mismatch_between_languages(copy):
    path = copy / "content" / "ar" / "t.yaml"
    text = path.read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("p2:"))
    path.write_text(text.replace(line, line.replace("{place}", "{where}")), encoding="utf-8")
    assert "content/ar/t.yaml: t.p2: placeholders ['where'] differ from en ['place']" \
        in problems(copy)


def test_unknown_action(copy):
    assert "flows/main.yaml: node submit: unknown action 'record'" in \
        problems(copy, action_names=("callback.submit",))


@pytest.mark.parametrize(("bounds", "message"), [
    ("{type: digits, min: abc, max: 4}", "input.min must be a whole number from 1 to 160, "
                                         "got 'abc'"),
    ("{type: digits, min: 2, max: 4.5}", "input.max must be a whole number from 1 to 160, "
                                         "got 4.5"),
    ("{type: digits, min: 0, max: 4}", "input.min must be a whole number from 1 to 160, got 0"),
    ("{type: digits, min: true, max: 4}", "input.min must be a whole number from 1 to 160, "
                                          "got True"),
    ("{type: digits, min: 5, max: 2}", "input.min 5 is more than input.max 2"),
])
def test_bad_input_bounds(copy, bounds, message):
    edit(flow(copy), "input: {type: digits, min: 2, max: 4}", f"input: {bounds}")
    assert f"flows/main.yaml: node ask: {message}" in problems(copy)


@pytest.mark.parametrize("value", ['"no"', '"false"', "0", "1", "[]", "yes please"])
def test_non_boolean_flags(copy, value):
    edit(flow(copy), "multilingual: true", f"multilingual: {value}")
    shown = yaml.safe_load(f"v: {value}")["v"]
    assert f"flows/main.yaml: node language: multilingual must be true or false, " \
           f"got {shown!r}" in problems(copy)


def test_every_problem_is_listed_at_once(copy):
    edit(flow(copy), "multilingual: true", 'multilingual: "no"')
    edit(flow(copy), "min: 2", "min: abc")
    edit(flow(copy), "  done:\n", "  orphan:\n    kind: end\n    text: t.done\n  done:\n")
    found = problems(copy, action_names=())
    assert len([p for p in found if p.startswith("flows/main.yaml")]) == 4, found


NODE_FIELDS = ("kind", "text", "options", "next", "routes", "action", "args", "input",
               "save", "multilingual")
ANY_YAML = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=8)


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(NODE_FIELDS), ANY_YAML, max_size=6),
       st.sampled_from(["menu", "message", "input", "action", "end", None]),
       st.sampled_from(["menu", "nowhere", ["menu"], 1, None]))
def test_any_node_gives_problems_never_a_traceback(tmp_path_factory, fields, kind, start):
    """Fresh files per example: nothing one example writes is seen by the next."""
    root = tmp_path_factory.mktemp("flows")
    node = {**fields, **({"kind": kind} if kind else {})}
    document = {"start": start, "home": start, "nodes": {"menu": node}}
    (root / "main.yaml").write_text(yaml.safe_dump(document, allow_unicode=True),
                                    encoding="utf-8")
    graph, found = load_graph(root)
    assert all(isinstance(p, str) and p.startswith("flows/main.yaml") for p in found)
    if graph is not None:  # what hotline check goes on to ask of a graph with problems
        assert isinstance(graph.variables(), set) and isinstance(graph.content_keys(), dict)


def add_key(root: Path, name: str, key: str, texts: dict[str, str]) -> None:
    for lang, text in texts.items():
        path = root / "content" / lang / f"{name}.yaml"
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(old + yaml.safe_dump({key: text}, allow_unicode=True), encoding="utf-8")


def test_a_key_the_code_uses_must_exist_in_every_language(copy):
    found = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                      action_vars={"ref"}, code_keys=("t.gone",)).problems
    assert "content/en/t.yaml: missing key t.gone (used by the code)" in found
    assert "content/ar/t.yaml: missing key t.gone (used by the code)" in found


def test_a_key_a_flow_uses_must_exist_in_every_language(copy):
    edit(flow(copy), "label: t.info,", "label: t.nowhere,")
    found = problems(copy)
    assert "flows/main.yaml: node menu: content key t.nowhere missing in content/en/t.yaml" \
        in found
    assert "flows/main.yaml: node menu: content key t.nowhere missing in content/ar/t.yaml" \
        in found


def test_a_key_no_flow_uses_is_reported_but_sms_texts_are_not(copy):
    add_key(copy, "t", "spare", {"en": "Spare", "ar": "احتياطي"})
    add_key(copy, "sms", "note", {"en": "Your code is noted.", "ar": "سجلنا رمزك."})
    found = problems(copy)
    assert found == ["content/en/t.yaml: key t.spare is not used by any flow"]


def test_an_sms_longer_than_three_parts(copy):
    long_en = "Your code is noted. " * 25
    add_key(copy, "sms", "note", {"en": long_en.strip(), "ar": "سجلنا رمزك."})
    found = problems(copy)
    assert found == ["content/en/sms.yaml: sms.note: SMS of 4 parts (499 GSM-7 characters); "
                     "at most 3"]


def test_a_language_option_without_content(copy):
    edit(flow(copy), "set: {lang: en}", "set: {lang: fr}")
    assert "flows/main.yaml: node language: language 'fr' has no content" in problems(copy)


@pytest.mark.parametrize(("options", "clash"), [(98, True), (97, False), (120, True)])
def test_ninety_eight_options_clash_with_more(copy, options, clash):
    lines = "".join("      - {label: t.o1, next: info}\n" for _ in range(options - 5))
    edit(flow(copy), "      - {label: t.o6, next: done}\n", lines)
    found = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                      action_vars={"ref"}).problems
    assert ("flows/main.yaml: node many: more than 97 options clash with 98 (more)"
            in found) is clash


def test_an_sms_of_exactly_three_parts_is_fine(copy):
    text = ("x" * 152 + " ") * 3  # 458 GSM-7 characters once stripped: 153 + 153 + 152
    add_key(copy, "sms", "note", {"en": text.strip(), "ar": "سجلنا رمزك."})
    assert problems(copy) == []
    add_key(copy, "sms", "more", {"en": text.strip() + " y", "ar": "سجلنا رمزك."})
    assert problems(copy) == ["content/en/sms.yaml: sms.more: SMS of 4 parts (460 GSM-7 "
                              "characters); at most 3"]


def test_an_sms_is_measured_with_the_configured_values(copy):
    add_key(copy, "sms", "code", {"en": "Dial {long_code} now.", "ar": "اطلب {long_code}"})
    found = check_all(copy, values={**VALUES, "long_code": "1" * 500}, budgets=[Budget()],
                      action_names={"record"}, action_vars={"ref"}).problems
    assert found == ["content/en/sms.yaml: sms.code: SMS of 4 parts (510 GSM-7 characters); "
                     "at most 3",
                     "content/ar/sms.yaml: sms.code: SMS of 8 parts (505 UCS-2 characters); "
                     "at most 3"]


def test_known_variables_are_not_unknown_placeholders(copy):
    """Variables come from flows (set, save), actions, the config and the engine."""
    add_key(copy, "sms", "vars", {lang: "{code} {ref} {place} {lang} {hours}"
                                  for lang in ("en", "ar")})
    assert problems(copy) == []


def test_an_sms_is_measured_with_eight_characters_for_each_value_a_session_fills(copy):
    """The reference and the code are unknown until a caller asks: the check counts them
    as eight characters each (the longest a reference gets) and config values as set."""
    body = "Ref {ref} code {code} at {place}. " * 12
    add_key(copy, "sms", "ref", {"en": body.strip(), "ar": "رقم طلبك {ref} {code} {place}"})
    text = body.strip().format(ref="ABCD2345", code="ABCD2345", place="Khartoum")
    assert problems(copy) == [f"content/en/sms.yaml: sms.ref: SMS of 4 parts ({len(text)} "
                              "GSM-7 characters); at most 3"]


@pytest.mark.parametrize(("node", "message"), [
    ("{kind: message}", "node extra: a message needs text"),
    ("{kind: input, save: x, next: done}", "node extra: an input needs text"),
    ("{kind: end}", "node extra: an end needs text"),
    ("{kind: menu, text: t.menu}", "node extra: a menu needs options"),
    ("{kind: input, text: t.ask_prompt, save: x}", "node extra: dead end: an input needs next"),
    ("{kind: action, action: record}", "node extra: dead end: an action needs next or routes"),
    ("{kind: choose, text: t.p1, choices: places, save: x}",
     "node extra: dead end: a choose needs next"),
    ("{kind: choose, text: t.p1, choices: places, next: done}",
     "node extra: a choose needs save: <variable>"),
    ("{kind: choose, text: t.p1, save: x, next: done}",
     "node extra: a choose needs choices: <list name>"),
    ("{kind: menu, text: t.menu, options: [{label: t.info, next: done, when: 5}]}",
     "node extra: option 1: when must name a variable"),
    ("{kind: input, text: t.ask_prompt, next: done}", "node extra: an input needs save: "
                                                      "<variable>"),
    ("{kind: action, next: done}", "node extra: an action needs action: <name>"),
    ("{kind: menu, options: [{label: t.info}]}", "node extra: option 1 needs label and next"),
    ("{kind: menu, options: [{label: t.info, next: done}, {next: done}]}",
     "node extra: option 2 needs label and next"),
    ("{kind: menu, options: [{label: t.info, next: done, set: {a: [1]}}]}",
     "node extra: option 1: set must map names to text"),
    ("{kind: menu, options: [{label: t.info, next: done, go: 1}]}",
     "node extra: option 1: unknown field 'go'"),
    ("{kind: menu, options: {label: t.info}}", "node extra: options must be a list"),
    ("{kind: action, action: record, routes: [done]}",
     "node extra: routes must map outcomes to nodes"),
    ("{kind: message, text: t.p1, next: [done]}", "node extra: next must be a node name"),
    ("{kind: input, text: t.ask_prompt, save: x, next: done, input: {type: number}}",
     "node extra: input.type must be one of ['digits', 'text']"),
    ("{kind: action, action: record, next: done, args: [1]}",
     "node extra: args must be a mapping"),
    ("{kind: end, text: t.done, next: done}", "node extra: unknown field 'next' for an end"),
    ("{kind: page, text: t.done}", "node extra: kind must be one of ['action', 'choose', 'end', "
                                   "'input', 'menu', 'message'], got 'page'"),
    ("[kind, end]", "node extra: must be a mapping"),
    ("{kind: message, text: [t.p1, 2]}", "node extra: text must be a content key or a list "
                                         "of them"),
])
def test_every_structural_rule_names_the_node_and_the_field(copy, node, message):
    edit(flow(copy), "  done:\n", f"  extra: {node}\n  done:\n")
    graph, found = load_graph(copy / "flows")
    assert f"flows/main.yaml: {message}" in found, found


def test_an_options_set_and_a_start_that_is_not_a_node(copy):
    edit(flow(copy), "start: language", "start: nowhere")
    edit(flow(copy), "home: menu", "home: [menu]")
    graph, found = load_graph(copy / "flows")
    assert graph is None
    assert "flows/main.yaml: start 'nowhere' is not a node of this file" in found
    assert "flows/main.yaml: home ['menu'] is not a node of this file" in found


def test_problems_of_hooks_join_the_others_and_their_keys_count_as_used(copy):
    add_key(copy, "t", "alert_a", {"en": "A", "ar": "أ"})
    add_key(copy, "t", "alert_b", {"en": "B", "ar": "ب"})
    edit(flow(copy), "set: {lang: en}", "set: {lang: fr}")

    def hook_a(catalog):
        return ["alerts: template a is odd"], {"t.alert_a"}

    def hook_b(catalog):
        return ["alerts: template b is odd"], {"t.alert_b"}

    found = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                      action_vars={"ref"}, hooks=[hook_a, hook_b]).problems
    assert found == ["alerts: template a is odd", "alerts: template b is odd",
                     "flows/main.yaml: node language: language 'fr' has no content"]


def test_without_a_main_flow_the_content_is_still_checked(copy):
    flow(copy).unlink()
    add_key(copy, "t", "stray", {"en": "Stray {nobody}"})
    checked = check_all(copy, values=VALUES, budgets=[Budget()])
    assert checked.graph is None and checked.catalog.languages == ("en", "ar")
    assert checked.problems == ["content/ar/t.yaml: missing key t.stray",
                                "flows/main.yaml: missing (it holds start and home)"]


def test_the_reference_language_must_be_gsm7_unless_told_otherwise(copy):
    edit(copy / "content" / "en" / "t.yaml", '"Test menu"', '"Test menu \u2019"')
    message = "content/en/t.yaml: t.menu: characters that force UCS-2: '\u2019' U+2019"
    assert problems(copy) == [message]
    assert check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                     action_vars={"ref"}, gsm7_languages=()).problems == []


def test_actions_are_only_checked_against_a_list_when_one_is_given(copy):
    checked = check_all(copy, values=VALUES, budgets=[Budget()], action_vars={"ref"})
    assert checked.problems == []


def test_a_checked_flow_with_problems_still_gives_its_graph_and_texts(copy):
    checked = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"other"},
                        action_vars={"ref"})
    assert checked.problems == ["flows/main.yaml: node submit: unknown action 'record'"]
    assert checked.graph is not None and checked.graph.home == "main.menu"
    assert checked.catalog.render("en", "t.menu") == "Test menu"


def test_a_file_name_leads_to_that_files_start(copy):
    (copy / "flows" / "extra.yaml").write_text(
        "start: first\nnodes:\n  first: {kind: end, text: t.done}\n", encoding="utf-8")
    edit(flow(copy), "      - {label: t.o6, next: done}", "      - {label: t.o6, next: extra}")
    graph, found = load_graph(copy / "flows")
    assert found == []
    assert graph["main.many"].options[-1].next == "extra.first"


def with_choose(root: Path) -> None:
    edit(flow(root), "      - {label: t.many, next: many}\n",
         "      - {label: t.many, next: many}\n      - {label: t.p1, next: pick}\n")
    edit(flow(root), "  done:\n", "  pick:\n    kind: choose\n    text: t.p1\n"
                                  "    choices: places\n    save: place\n    next: done\n"
                                  "  done:\n")


def test_a_choose_node_needs_a_list_the_code_knows(copy):
    with_choose(copy)
    assert problems(copy) == []  # no lists given: not checked

    def lists(catalog):
        return {"places": lambda lang, vars: [(catalog.render(lang, "t.p1"), "p1")]}

    found = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                      action_vars={"ref"}, choices=lists).problems
    assert found == []
    found = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                      action_vars={"ref"}, choices=lambda catalog: {}).problems
    assert found == ["flows/main.yaml: node pick: unknown list 'places'"]


def test_the_entries_of_a_list_are_measured_on_the_screen(copy):
    with_choose(copy)

    def lists(catalog):
        return {"places": lambda lang, vars: [("Port " + "Sudan" * 40, "far")]}

    found = check_all(copy, values=VALUES, budgets=[Budget()], action_names={"record"},
                      action_vars={"ref"}, choices=lists).problems
    assert found == [f"flows/main.yaml: node pick ({lang}): over the screen budget 160 GSM-7 / "
                     "70 UCS-2: option '1. Port SudanSudanSudanSudanSu' does not fit one screen"
                     for lang in ("en", "ar")]


def test_screens_are_measured_with_the_configured_values(copy):
    long_place = {"en": "K" * 150, "ar": "الخرطوم"}
    found = check_all(copy, values={"place": long_place}, budgets=[Budget()],
                      action_names={"record"}, action_vars={"ref"}).problems
    assert found == ["flows/main.yaml: node info (en): over the screen budget 160 GSM-7 / "
                     "70 UCS-2: 'KKKKKKKKKKKKKKKKKKKKKKKKKKKKKK' does not fit one screen"]


def test_every_budget_and_every_error_screen_is_checked(copy):
    small, narrow = Budget(40, 30), Budget(28, 70)
    found = check_all(copy, values=VALUES, budgets=[small, narrow, small],
                      action_names={"record"}, action_vars={"ref"},
                      screen_keys=["t.ask_prompt"]).problems
    over = "over the screen budget"
    assert sorted(found) == sorted([
        "content/ar/nav.yaml: nav.invalid: the hint and the navigation lines do not fit a "
        "screen of 40 GSM-7 / 30 UCS-2: callers would never see it",
        f"flows/main.yaml: node menu (ar): {over} 40 GSM-7 / 30 UCS-2: option "
        "'3. خيارات كثيرة' does not fit one screen",
        "flows/main.yaml: node done (en): an end screen must fit one screen of 40 GSM-7 / "
        "30 UCS-2; it needs 2",
        "flows/main.yaml: node done (ar): an end screen must fit one screen of 40 GSM-7 / "
        "30 UCS-2; it needs 2",
        f"flows/main.yaml: node many (en): {over} 40 GSM-7 / 30 UCS-2: option "
        "'1. Option one with a long labe' does not fit one screen",
        f"flows/main.yaml: node many (ar): {over} 40 GSM-7 / 30 UCS-2: option "
        "'1. الخيار الأول بعنوان طويل' does not fit one screen",
        "content/*/t.yaml: t.ask_prompt: in every language at once (for a caller whose "
        "language we do not know) 55 UCS-2 characters, over 30",
        "content/en/nav.yaml: nav.invalid: the hint and the navigation lines do not fit a "
        "screen of 28 GSM-7 / 70 UCS-2: callers would never see it",
        f"flows/main.yaml: node menu (en): {over} 28 GSM-7 / 70 UCS-2: option "
        "'1. Information' does not fit one screen",
        f"flows/main.yaml: node info (en): {over} 28 GSM-7 / 70 UCS-2: option "
        "'1. Give a code' does not fit one screen",
        "flows/main.yaml: node done (en): an end screen must fit one screen of 28 GSM-7 / "
        "70 UCS-2; it needs 3",
        f"flows/main.yaml: node many (en): {over} 28 GSM-7 / 70 UCS-2: option "
        "'1. Option one with a long labe' does not fit one screen",
    ])


@pytest.mark.parametrize("bounds", ["{min: 160, max: 160}", "{min: 4, max: 4}",
                                    "{type: digits, min: 1}"])
def test_input_bounds_from_one_to_160_and_equal_ones_are_fine(copy, bounds):
    edit(flow(copy), "input: {type: digits, min: 2, max: 4}", f"input: {bounds}")
    assert load_graph(copy / "flows")[1] == []


def test_an_input_without_bounds_takes_one_to_twenty_characters_of_text(copy):
    edit(flow(copy), "    input: {type: digits, min: 2, max: 4}\n", "")
    graph, found = load_graph(copy / "flows")
    assert found == []
    ask = graph["main.ask"]
    assert (ask.input_type, ask.min_len, ask.max_len) == ("text", 1, 20)


def test_every_bad_option_of_a_node_is_reported(copy):
    edit(flow(copy), "  done:\n", "  extra: {kind: menu, text: t.menu, options: [{label: t.info}, "
                                  "{label: t.info, next: done, go: 1}]}\n  done:\n")
    found = load_graph(copy / "flows")[1]
    assert "flows/main.yaml: node extra: option 1 needs label and next" in found
    assert "flows/main.yaml: node extra: option 2: unknown field 'go'" in found


def test_a_flow_file_that_cannot_be_read_is_named_and_the_others_still_load(copy):
    (copy / "flows" / "a_broken.yaml").write_text("nodes: [\n  x\n", encoding="utf-8")
    (copy / "flows" / "b_list.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    (copy / "flows" / "c_nodes.yaml").write_text("nodes: [1]\n", encoding="utf-8")
    edit(flow(copy), "start: language", "colour: blue\nstart: language")
    graph, found = load_graph(copy / "flows")
    assert graph is not None and graph.home == "main.menu"  # main.yaml, read after them
    unreadable = [p for p in found if p.startswith("flows/a_broken.yaml: cannot be read: ")]
    assert len(unreadable) == 1 and "\n" not in unreadable[0]
    assert found[1:] == ["flows/b_list.yaml: needs a mapping with nodes:",
                         "flows/c_nodes.yaml: needs a mapping with nodes:",
                         "flows/main.yaml: unknown field 'colour'"]
