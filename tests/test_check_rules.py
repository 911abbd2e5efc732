"""What ``hotline check`` says about screens, and the session state it stores: the pure
functions behind them, with the exact messages a content writer reads.

Written for the mutants that ``make mutants`` found surviving in the pure core
(issue 14): the fast subset reached these only through the real content.
"""

import json
from pathlib import Path

import pytest

from hotline.content import load_catalog
from hotline.flows import Engine, State
from hotline.flows.check import _code_screens, _node_screens, _screens
from hotline.flows.spec import load_graph
from hotline.textcodec import Budget, measure

MINI = Path(__file__).parent / "data" / "mini"
VALUES = {"place": {"en": "Khartoum", "ar": "الخرطوم"}}
SAMPLE = {"code": "1234", "ref": "R1"}


@pytest.fixture()  # per test: mutmut ties a function to the tests that run it
def mini():
    catalog, problems = load_catalog(MINI / "content")
    graph, flow_problems = load_graph(MINI / "flows")
    assert problems == flow_problems == []
    return graph, catalog


def test_a_state_survives_the_store_unchanged():
    state = State("main.menu", lang="ar", page=2, history=(("main.language", 0),
                                                             ("main.menu", 1)),
                  vars={"reason": "danger"}, hops=7, ended=True, private=True)
    stored = json.loads(json.dumps(state.to_dict()))
    assert stored == {"node": "main.menu", "lang": "ar", "page": 2,
                      "history": [["main.language", 0], ["main.menu", 1]],
                      "vars": {"reason": "danger"}, "hops": 7, "ended": True,
                      "private": True}
    assert State.from_dict(stored) == state


def test_an_older_record_without_the_newer_fields_reads_as_the_defaults():
    assert State.from_dict({"node": "main.menu"}) == State("main.menu")
    old = State.from_dict({"node": "n", "page": "1", "hops": "3", "history": [["a", "2"]]})
    assert (old.page, old.hops, old.history, old.lang, old.vars, old.ended, old.private) == \
        (1, 3, (("a", 2),), None, {}, False, False)


def test_an_error_screen_over_budget_in_one_language(mini):
    _, catalog = mini
    en = catalog.render("en", "t.p1")
    both = measure(catalog.render("ar", "t.p1") + "\n" + en).units
    budget = Budget(len(en) - 1, both - 1)
    assert _code_screens(catalog, ["t.p1"], budget) == [
        f"content/en/t.yaml: t.p1: over the screen budget ({len(en)} characters)",
        f"content/*/t.yaml: t.p1: in every language at once (for a caller whose language we "
        f"do not know) {both} UCS-2 characters, over {both - 1}"]


def test_error_screens_that_fit_alone_and_together_are_fine(mini):
    _, catalog = mini
    assert _code_screens(catalog, ["t.menu", "t.ask"], Budget()) == []


def test_error_screens_that_fit_alone_but_not_together(mini):
    _, catalog = mini
    both = "\n".join(catalog.render(lang, "t.ask_prompt") for lang in catalog.languages)
    cost = measure(both)
    budget = Budget(160, cost.units - 1)
    assert all(budget.fits(catalog.render(lang, "t.ask_prompt"))
               for lang in catalog.languages)
    assert _code_screens(catalog, ["t.ask_prompt"], budget) == [
        f"content/*/t.yaml: t.ask_prompt: in every language at once (for a caller whose "
        f"language we do not know) {cost.units} UCS-2 characters, over {cost.units - 1}"]


def test_an_end_screen_must_fit_one_screen(mini):
    graph, catalog = mini
    engine = Engine(graph, catalog, values=VALUES, budget=Budget(40, 30))
    pages = engine.pages("main.done", "en", SAMPLE)
    assert len(pages) > 1
    assert _node_screens(engine, graph["main.done"], "en", SAMPLE, "40 / 30") == [
        f"flows/main.yaml: node done (en): an end screen must fit one screen of 40 / 30; "
        f"it needs {len(pages)}"]


def test_screens_within_budget_have_no_problem(mini):
    graph, catalog = mini
    engine = Engine(graph, catalog, values=VALUES, budget=Budget())
    for node in graph.nodes.values():
        if node.kind != "action":
            for lang in (*catalog.languages, None):
                assert _node_screens(engine, node, lang, SAMPLE, "160 / 70") == []


def test_a_hint_that_never_fits_with_the_navigation_is_reported(mini):
    graph, catalog = mini
    engine = Engine(graph, catalog, values=VALUES, budget=Budget(28, 70))
    found = _screens(engine, SAMPLE)
    assert "content/en/nav.yaml: nav.invalid: the hint and the navigation lines do not fit " \
           "a screen of 28 GSM-7 / 70 UCS-2: callers would never see it" in found
    assert not any(p.startswith("content/ar/nav.yaml") for p in found)


def test_the_language_screen_over_budget_names_every_language(mini):
    """Before a language is chosen the language screen shows every language; its problem
    must say so, not name whichever language a loop saw last."""
    graph, catalog = mini
    engine = Engine(graph, catalog, values=VALUES, budget=Budget(12, 8))
    found = [p for p in _screens(engine, SAMPLE) if p.startswith("flows/main.yaml: node "
                                                                 "language")]
    assert any(p.startswith("flows/main.yaml: node language (every language): over the "
                            "screen budget 12 GSM-7 / 8 UCS-2") for p in found), found


def test_the_report_lists_every_page_of_every_screen_with_its_cost(mini):
    from hotline.flows.check import check_all, report

    checked = check_all(MINI, values=VALUES, budgets=[Budget()], action_names={"record"},
                        action_vars={"ref"})
    lines = report(checked, values=VALUES, budget=Budget())
    engine = Engine(checked.graph, checked.catalog, values=VALUES, budget=Budget())
    done = engine.pages("main.done", "ar", {"code": "ABCD2345"})[0]  # flow variables only
    assert f"{'main.done':<32} ar  1/1 {measure(done).units:>3}/70  UCS-2" in lines
    info = [ln.split()[2] for ln in lines if ln.startswith("main.info ") and " en " in ln]
    assert len(info) > 1 and info == [f"{i}/{len(info)}" for i in range(1, len(info) + 1)]
    assert not any(ln.startswith("main.submit") for ln in lines)  # an action has no screen
    assert {ln.split()[1] for ln in lines} == {"ar", "en"}


def test_a_private_path_is_recognised_from_the_inputs_alone(engine):
    """The end-of-session report keeps nothing of a session that passed "not safe to call";
    the engine tells from the path, without running any action."""
    from tests.test_callback_flow import MENU_CALLBACK

    assert engine.private_path([MENU_CALLBACK, "1", "3"], "en")  # danger, not safe to call
    assert engine.private_path(["2", MENU_CALLBACK, "1", "3", "98"], None)  # a new caller
    assert not engine.private_path([MENU_CALLBACK, "1", "1"], "ar")  # safe: asks about SMS
    assert not engine.private_path([], "ar")
    # sending the request runs an action: what follows cannot be known, so keep nothing
    assert engine.private_path([MENU_CALLBACK, "1", "1", "2", "1"], "en")


def test_the_report_sizes_each_page_with_the_navigation_it_shows(mini):
    from hotline.flows.check import check_all, report

    checked = check_all(MINI, values=VALUES, budgets=[Budget()], action_names={"record"},
                        action_vars={"ref"})
    engine = Engine(checked.graph, checked.catalog, values=VALUES, budget=Budget())
    lines = report(checked, values=VALUES, budget=Budget())
    sample = {"code": "ABCD2345"}
    for node_id in ("main.info", "main.many", "main.menu"):
        pages = engine.pages(node_id, "en", sample)
        for i, body in enumerate(pages, 1):
            more, last = engine.navs(node_id, "en", first_page=i == 1)
            nav = last if i == len(pages) else more
            units = measure(f"{body}\n{nav}" if nav else body).units
            assert f"{node_id:<32} en  {i}/{len(pages)} {units:>3}/160 GSM-7" in lines


def test_the_report_measures_sms_texts_with_a_sessions_values_as_eight_characters(tmp_path):
    import shutil

    import yaml

    from hotline.flows.check import check_all, report

    shutil.copytree(MINI, tmp_path / "mini")
    for lang, text in (("en", "Your code: {code}."), ("ar", "رمزك: {code}")):
        (tmp_path / "mini" / "content" / lang / "sms.yaml").write_text(
            yaml.safe_dump({"near": text}, allow_unicode=True), encoding="utf-8")
    checked = check_all(tmp_path / "mini", values=VALUES, budgets=[Budget()],
                        action_names={"record"}, action_vars={"ref"})
    assert checked.problems == []
    lines = report(checked, values=VALUES, budget=Budget())
    en, ar = "Your code: ABCD2345.", "رمزك: ABCD2345"
    assert [ln for ln in lines if ln.startswith("sms.")] == [
        f"{'sms.near':<32} en  sms  {len(en)} chars GSM-7 1 part(s)",
        f"{'sms.near':<32} ar  sms  {len(ar)} chars UCS-2 1 part(s)"]
    long = "Your code: {code}. " * 12  # 12 x 21 characters with the code: two parts
    (tmp_path / "mini" / "content" / "en" / "sms.yaml").write_text(
        yaml.safe_dump({"near": long.strip()}, allow_unicode=True), encoding="utf-8")
    checked = check_all(tmp_path / "mini", values=VALUES, budgets=[Budget()],
                        action_names={"record"}, action_vars={"ref"})
    lines = report(checked, values=VALUES, budget=Budget())
    assert f"{'sms.near':<32} en  sms 251 chars GSM-7 2 part(s)" in lines


def test_the_report_sizes_arabic_pages_with_the_arabic_navigation(mini):
    from hotline.flows.check import check_all, report

    checked = check_all(MINI, values=VALUES, budgets=[Budget()], action_names={"record"},
                        action_vars={"ref"})
    engine = Engine(checked.graph, checked.catalog, values=VALUES, budget=Budget())
    lines = report(checked, values=VALUES, budget=Budget())
    pages = engine.pages("main.info", "ar", {})
    assert len(pages) > 1
    more, last = engine.navs("main.info", "ar")
    for i, body in enumerate(pages, 1):
        units = measure(f"{body}\n{last if i == len(pages) else more}").units
        assert f"{'main.info':<32} ar  {i}/{len(pages)} {units:>3}/70  UCS-2" in lines
