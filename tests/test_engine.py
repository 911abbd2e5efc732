"""The pure engine over a small fixture flow: no app, no database, no Redis."""

from pathlib import Path

import pytest

from hotline.flows import ActionResult, Engine
from hotline.flows.check import check_all
from hotline.textcodec import Budget, measure

MINI = Path(__file__).parent / "data" / "mini"
VALUES = {"place": {"en": "Khartoum", "ar": "الخرطوم"}}  # words: one value per language


class Recorder:
    def __init__(self, outcome="ok"):
        self.calls, self.outcome = [], outcome

    def __call__(self, call):
        self.calls.append(call)
        return ActionResult(self.outcome, {"ref": f"R{len(self.calls)}"})


@pytest.fixture(scope="module")
def mini():
    checked = check_all(MINI, values=VALUES, budgets=[Budget()], action_names={"record"},
                        action_vars={"ref"})
    assert checked.problems == []
    return checked


def make(mini, budget=None, outcome="ok"):
    budget = budget or Budget()
    recorder = Recorder(outcome)
    engine = Engine(mini.graph, mini.catalog, values=VALUES, budget=budget,
                    actions={"record": recorder}, default_lang="ar")
    return engine, recorder


def run(engine, inputs, lang=None):
    state, screen = engine.begin(lang)
    screens = [screen]
    for value in inputs:
        state, screen = engine.step(state, value)
        screens.append(screen)
    return state, screens


def text(mini, lang, key, **values):
    return mini.catalog.render(lang, key, {**VALUES, **values})


def test_new_caller_sees_every_language(mini):
    engine, _ = make(mini)
    state, screen = engine.begin(None)
    assert state.node == "main.language"
    assert screen.text.splitlines() == ["اختر اللغة", "Choose language", "1. العربية",
                                        "2. English"]


def test_returning_caller_starts_at_home_in_their_language(mini):
    engine, _ = make(mini)
    state, screen = engine.begin("en")
    assert state.node == "main.menu" and state.lang == "en"
    assert screen.text.startswith(text(mini, "en", "t.menu"))
    assert "0 Back" not in screen.text  # nowhere to go back to


@pytest.mark.parametrize(
    ("inputs", "node", "page", "lang"),
    [
        (["2"], "main.menu", 0, "en"),
        (["1"], "main.menu", 0, "ar"),
        (["2", "1"], "main.info", 0, "en"),
        (["2", "1", "98"], "main.info", 1, "en"),
        (["2", "1", "98", "0"], "main.info", 0, "en"),
        (["2", "1", "0"], "main.menu", 0, "en"),
        (["2", "1", "98", "98", "00"], "main.menu", 0, "en"),
        (["2", "3", "1", "00"], "main.menu", 0, "en"),
        (["٢", "١", "٩٨"], "main.info", 1, "en"),  # Eastern Arabic digits
        (["۲", "۱"], "main.info", 0, "en"),  # Persian digits
        ([" 2 ", "1 "], "main.info", 0, "en"),
        (["2", "7"], "main.menu", 0, "en"),  # no option 7: stays
        (["2", "hello"], "main.menu", 0, "en"),
        (["2", "1", "1"], "main.info", 0, "en"),  # option only on the last page
        (["2", "2", "5"], "main.ask", 0, "en"),  # too short for min 2
        (["2", "2", "12345"], "main.ask", 0, "en"),  # too long for max 4
        (["2", "2", "12"], "main.done", 0, "en"),
        (["2", "2", "١٢٣"], "main.done", 0, "en"),
    ],
)
def test_navigation_table(mini, inputs, node, page, lang):
    engine, _ = make(mini)
    state, _ = run(engine, inputs)
    assert (state.node, state.page, state.lang) == (node, page, lang)


def test_invalid_input_reshows_the_same_screen_with_a_hint(mini):
    engine, _ = make(mini)
    state, screens = run(engine, ["2", "9"])
    assert screens[-1].text == "Invalid choice.\n" + screens[-2].text
    state, screens = run(engine, ["1", "9"])
    assert screens[-1].text.startswith(text(mini, "ar", "nav.invalid"))


def test_invalid_on_the_language_screen_hints_in_every_language(mini):
    engine, _ = make(mini)
    _, screens = run(engine, ["5"])
    assert screens[-1].text.startswith("اختيار غير صحيح. / Invalid choice.")


def test_98_on_the_last_page_is_invalid(mini):
    engine, _ = make(mini)
    state, screens = run(engine, ["2", "2", "98"])
    assert state.node == "main.ask" and "code" not in state.vars
    assert screens[-1].text.startswith("Invalid choice.")


def test_long_text_splits_between_words_and_every_page_fits(mini):
    for budget in (Budget(), Budget(100, 50)):
        engine, _ = make(mini, budget)
        for lang in ("en", "ar"):
            pages = engine.pages("main.info", lang, {})
            joined = " ".join(" ".join(p.splitlines()) for p in pages)
            assert text(mini, lang, "t.long") in joined  # nothing lost, no word cut
            state, screens = run(engine, ["1" if lang == "ar" else "2", "1"])
            screen = screens[-1]
            while True:
                assert screen.units <= budget.limit(screen.encoding)
                if screen.page == screen.pages - 1:
                    break
                state, screen = engine.step(state, "98")


def test_menu_options_paginate_and_any_seen_option_is_accepted(mini):
    engine, _ = make(mini, Budget(gsm7=80, ucs2=70))
    state, screens = run(engine, ["2", "3"])
    first = screens[-1]
    assert first.pages > 1 and "98 More" in first.text
    assert "6." not in first.text
    state, screen = engine.step(state, "98")
    while screen.page < screen.pages - 1:
        state, screen = engine.step(state, "98")
    assert "6. Option six" in screen.text
    state, screen = engine.step(state, "6")
    assert state.node == "main.done"


def test_nav_line_offers_home_only_when_back_would_not_get_there(mini):
    engine, _ = make(mini)
    _, screens = run(engine, ["2", "1"])
    assert screens[-1].text.endswith("98 More\n0 Back")  # each item on its own line
    _, screens = run(engine, ["2", "1", "98", "98", "98"])
    assert screens[-1].text.endswith("0 Back\n00 Menu")
    _, screens = run(engine, ["2", "2"])  # back goes to the menu itself
    assert screens[-1].text.endswith("0 Back")


def test_action_runs_with_variables_and_context_and_routes(mini):
    engine, recorder = make(mini)
    state, screen = engine.begin("en")
    for value in ["2", "42"]:
        state, screen = engine.step(state, value, {"phone": "+249912345678"})
    assert screen.end and state.ended
    assert screen.text == text(mini, "en", "t.done", code="42", ref="R1")
    (call,) = recorder.calls
    assert call.args == {"kind": "test"} and call.vars["code"] == "42"
    assert call.context == {"phone": "+249912345678"} and call.lang == "en"

    engine, recorder = make(mini, outcome="busy")
    state, screen = run(engine, ["2", "2", "42"])
    assert state.node == "main.info" and len(recorder.calls) == 1


def test_replay_is_a_fold_of_step(mini):
    engine, _ = make(mini)
    inputs = ["2", "1", "98", "0", "98", "98", "00", "3", "98"]
    state, screens = run(engine, inputs)
    replayed, screen = engine.replay(inputs, None)
    assert replayed == state and screen == screens[-1]
    assert state.hops == len(inputs)


def test_state_round_trips_through_json(mini):
    import json

    engine, _ = make(mini)
    state, _ = run(engine, ["2", "1", "98"])
    from hotline.flows import State

    assert State.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_ended_session_keeps_showing_the_end(mini):
    engine, recorder = make(mini)
    state, screens = run(engine, ["2", "2", "42", "1", "00"])
    assert screens[-1].end and len(recorder.calls) == 1


def test_screens_report_encoding(mini):
    engine, _ = make(mini)
    _, screens = run(engine, ["1"])
    assert screens[-1].encoding == "UCS-2" and screens[-1].limit == 70
    assert measure(screens[-1].text).units == screens[-1].units


def test_a_short_list_of_choices_is_not_split_across_screens():
    from hotline.flows.screens import layout

    budget = Budget(gsm7=60, ucs2=30)
    text = "word " * 8  # 40 characters: room for one more line, not two
    result = layout([text.strip()], ["1. First", "2. Second"], ["98 More 0 Back"], budget)
    assert result.pages == (text.strip(), "1. First\n2. Second")
    assert result.options_from == 1
    alone = layout(["short"], ["1. First", "2. Second"], ["0 Back"], budget)
    assert alone.pages == ("short\n1. First\n2. Second",) and alone.options_from == 0


@pytest.mark.parametrize("lang,place", [("en", "Khartoum"), ("ar", "الخرطوم")])
def test_a_config_value_in_words_shows_in_the_callers_language(mini, lang, place):
    engine, _ = make(mini)
    state, screens = run(engine, ["1", "98"], lang)
    assert (state.node, state.page) == ("main.info", 1)
    assert text(mini, lang, "t.p2") in screens[-1].text
    assert place in screens[-1].text
