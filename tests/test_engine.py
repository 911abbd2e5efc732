"""The pure engine over a small fixture flow: no app, no database, no Redis."""

from pathlib import Path

import pytest
import yaml

from hotline.content import Catalog
from hotline.errors import HotlineError
from hotline.flows import ActionResult, Engine, State
from hotline.flows.check import check_all
from hotline.flows.screens import Layout
from hotline.flows.spec import load_graph
from hotline.textcodec import Budget, measure

MINI = Path(__file__).parent / "data" / "mini"
VALUES = {"place": {"en": "Khartoum", "ar": "الخرطوم"}}  # words: one value per language


class Recorder:
    def __init__(self, outcome="ok"):
        self.calls, self.outcome = [], outcome

    def __call__(self, call):
        self.calls.append(call)
        return ActionResult(self.outcome, {"ref": f"R{len(self.calls)}"})


@pytest.fixture()  # per test: mutmut ties a function to the tests that run it
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


def test_eastern_arabic_digits_are_stored_as_0_to_9(mini):
    engine, recorder = make(mini)
    run(engine, ["2", "2", "١٢٣"])
    assert recorder.calls[0].vars["code"] == "123"


def test_back_from_a_screen_reached_on_a_later_page_returns_to_that_page(mini):
    engine, _ = make(mini)
    state, screens = run(engine, ["2", "1", "98", "98", "98"])
    last = screens[-1].page
    assert last > 0 and state.page == last
    state, screen = engine.step(state, "1")
    assert (state.node, state.page) == ("main.ask", 0)
    state, screen = engine.step(state, "0")
    assert (state.node, state.page) == ("main.info", last) and screen.text == screens[-1].text


def test_every_page_but_the_last_offers_more_and_every_later_page_back(mini):
    engine, _ = make(mini)
    state, screens = run(engine, ["2", "1"])
    screen = screens[-1]
    assert screen.pages >= 3
    while True:
        lines = screen.text.splitlines()
        assert ("98 More" in lines) is (screen.page < screen.pages - 1), screen
        assert "0 Back" in lines
        if screen.page == screen.pages - 1:
            break
        state, screen = engine.step(state, "98")


def test_the_second_page_of_the_main_menu_goes_back_to_the_first(mini):
    engine, _ = make(mini, Budget(gsm7=30, ucs2=30))
    state, first = engine.begin("en")
    assert first.pages > 1 and "0 Back" not in first.text
    state, second = engine.step(state, "98")
    assert second.page == 1 and "0 Back" in second.text.splitlines()
    state, again = engine.step(state, "0")
    assert again.text == first.text


# --- every kind of step, on a second small flow ------------------------------------------------
# Choosing from a named list, typing text, options that set variables or show a window's
# hours, options only some callers see, actions and their routes, going back and home.
# Written for the mutants that ``make mutants`` found surviving in the engine (issue 14):
# the fast subset reached choose nodes, text inputs and windows only through the app.

PATHS_FLOW = {
    "start": "hello",
    "home": "menu",
    "nodes": {
        "hello": {"kind": "action", "action": "greet", "next": "language"},
        "language": {"kind": "menu", "multilingual": True, "text": "p.lang", "options": [
            {"label": "p.lang_name", "set": {"lang": "ar"}, "next": "menu"},
            {"label": "p.lang_name", "set": {"lang": "en"}, "next": "menu"},
            {"label": "p.help", "next": "help"}]},
        "menu": {"kind": "menu", "text": "p.menu", "options": [
            {"label": "p.pick", "next": "pick"},
            {"label": "p.name", "next": "name"},
            {"label": "p.note", "next": "note"},
            {"label": "p.morning", "set": {"when": "morning"}, "next": "saved"},
            {"label": "p.arabic", "set": {"lang": "ar"}, "next": "menu"},
            {"label": "p.strict", "next": "strict"},
            {"label": "p.loop", "next": "loop"},
            {"label": "p.lead", "when": "leader", "next": "secret"}]},
        "help": {"kind": "end", "text": "p.help_end"},
        "pick": {"kind": "choose", "text": "p.where", "choices": "places", "save": "place",
                 "next": "saved"},
        "name": {"kind": "input", "text": "p.your_name", "input": {"type": "text", "max": 20},
                 "save": "name", "next": "saved"},
        "note": {"kind": "message", "text": "p.note_text", "options": [
            {"label": "p.menu", "next": "menu"}, {"label": "p.pick", "next": "pick"}]},
        "saved": {"kind": "action", "action": "keep", "routes": {"odd": "note"},
                  "next": "done"},
        "strict": {"kind": "action", "action": "keep", "routes": {"ok": "done"}},
        "loop": {"kind": "action", "action": "keep", "next": "loop"},
        "done": {"kind": "end", "text": "p.done"},
        "secret": {"kind": "end", "private": True, "text": "p.secret"},
    },
}
PATHS_NAV = {"en": {"nav.more": "98 More", "nav.back": "0 Back", "nav.home": "00 Menu",
              "nav.invalid": "Invalid choice."},
       "ar": {"nav.more": "98 المزيد", "nav.back": "0 رجوع", "nav.home": "00 القائمة",
              "nav.invalid": "اختيار غير صحيح."}}
PATHS_TEXTS = {
    "en": {"p.lang": "Choose language", "p.lang_name": "English", "p.help": "Help",
           "p.menu": "Menu", "p.pick": "Pick a place", "p.name": "Your name",
           "p.note": "A note", "p.morning": "Mornings {hours}", "p.arabic": "Arabic",
           "p.strict": "Strict", "p.loop": "Loop", "p.lead": "Leaders",
           "p.help_end": "Help text.", "p.where": "Where are you?",
           "p.your_name": "Type your name", "p.note_text": "A short note.",
           "p.done": "Saved.", "p.secret": "Private."},
    "ar": {"p.lang": "اختر اللغة", "p.lang_name": "العربية", "p.help": "مساعدة",
           "p.menu": "القائمة", "p.pick": "اختر مكانا", "p.name": "اسمك",
           "p.note": "ملاحظة", "p.morning": "الصباح {hours}", "p.arabic": "عربي",
           "p.strict": "صارم", "p.loop": "حلقة", "p.lead": "القادة",
           "p.help_end": "نص المساعدة.", "p.where": "أين أنت؟", "p.your_name": "اكتب اسمك",
           "p.note_text": "ملاحظة قصيرة.", "p.done": "تم.", "p.secret": "خاص."},
}
PATHS_CATALOG = Catalog({lang: {**PATHS_NAV[lang], **PATHS_TEXTS[lang]} for lang in ("en", "ar")})
PATHS_PLACES = {"en": [("Kassala", "kassala"), ("Port Sudan", "port_sudan"),
                       ("Omdurman", "omdurman")],
                "ar": [("كسلا", "kassala"), ("بورتسودان", "port_sudan"), ("أم درمان", "omdurman")]}
PHONE = {"phone": "+249912345678"}


class Keeper:
    """An action that remembers each call (what a real one would store) and answers
    with the outcome it is told to."""

    def __init__(self, outcome: str = "ok") -> None:
        self.calls, self.outcome = [], outcome

    def __call__(self, call):
        self.calls.append(call)
        return ActionResult(self.outcome)


@pytest.fixture()  # per test: mutmut ties a function to the tests that run it
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    (root / "main.yaml").write_text(yaml.safe_dump(PATHS_FLOW), encoding="utf-8")
    graph, problems = load_graph(root)
    assert problems == []
    return graph


def places(lang, vars):
    """The named list: the caller's language, and one more place for a leader."""
    listed = PATHS_PLACES[lang]
    return [*listed, ("HQ", "hq")] if vars.get("leader") else listed


def make_paths(paths, outcome="ok", budget=None, **extra):
    keep, greet = Keeper(outcome), Keeper()
    options = {"actions": {"keep": keep, "greet": greet}, "choices": {"places": places},
               "windows": {"morning": "8-12"}, "default_lang": "ar", **extra}
    return Engine(paths, PATHS_CATALOG, budget=budget or Budget(), **options), keep, greet


def walk(engine, inputs, lang="en", vars=None, context=PHONE):
    state, screen = engine.begin(lang, context, vars)
    for value in inputs:
        state, screen = engine.step(state, value, context)
    return state, screen


# --- choose: a named list ---------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "lines"), [
    ("en", ["Where are you?", "1. Kassala", "2. Port Sudan", "3. Omdurman", "0 Back"]),
    ("ar", ["أين أنت؟", "1. كسلا", "2. بورتسودان", "3. أم درمان", "0 رجوع"]),
])
def test_a_named_list_is_shown_numbered_in_the_callers_language(paths, lang, lines):
    engine, _, _ = make_paths(paths)
    _, screen = walk(engine, ["1"], lang)
    assert screen.text.splitlines() == lines


@pytest.mark.parametrize(("press", "place"), [("1", "kassala"), ("3", "omdurman")])
def test_the_chosen_entrys_value_is_what_the_action_stores(paths, press, place):
    engine, keep, _ = make_paths(paths)
    state, screen = walk(engine, ["1", press])
    assert state.node == "main.done" and screen.text == "Saved."
    (call,) = keep.calls
    assert call.name == "keep" and call.vars == {"place": place}
    assert call.context == PHONE and call.lang == "en"


@pytest.mark.parametrize("press", ["4", "0x", "x", "98"])
def test_a_number_past_the_list_or_a_word_keeps_the_list_with_the_hint(paths, press):
    engine, keep, _ = make_paths(paths)
    state, listed = walk(engine, ["1"])
    state, screen = engine.step(state, press)
    assert state.node == "main.pick" and keep.calls == []
    assert screen.text == "Invalid choice.\n" + listed.text


def test_a_leader_sees_the_longer_list_the_provider_gives_for_their_variables(paths):
    engine, keep, _ = make_paths(paths)
    _, screen = walk(engine, ["1"], vars={"leader": "1"})
    assert "4. HQ" in screen.text.splitlines()
    walk(engine, ["1", "4"], vars={"leader": "1"})
    assert keep.calls[-1].vars == {"leader": "1", "place": "hq"}


def test_an_unknown_list_shows_its_title_and_no_number_is_taken(paths):
    engine, keep, _ = make_paths(paths, choices={})
    state, screen = walk(engine, ["1"])
    assert screen.text.splitlines() == ["Where are you?", "0 Back"]
    state, screen = engine.step(state, "1")
    assert state.node == "main.pick" and keep.calls == []


def test_an_over_long_hint_on_a_list_takes_the_titles_place_and_keeps_every_entry(paths):
    engine, _, _ = make_paths(paths, budget=Budget(gsm7=70, ucs2=70))
    state, plain = walk(engine, ["1"])
    assert plain.text == "Where are you?\n1. Kassala\n2. Port Sudan\n3. Omdurman\n0 Back"
    _, hinted = engine.step(state, "9")
    assert hinted.text == "Invalid choice.\n1. Kassala\n2. Port Sudan\n3. Omdurman\n0 Back"


# --- text input, message options, variables set by options -----------------------------------

def test_typed_text_is_stored_with_its_spaces_collapsed(paths):
    engine, keep, _ = make_paths(paths)
    state, _ = walk(engine, ["2", "  Amna   Ali "])
    assert state.node == "main.done"
    assert keep.calls[0].vars == {"name": "Amna Ali"} and keep.calls[0].context == PHONE


def test_a_message_with_options_leads_on(paths):
    engine, _, _ = make_paths(paths)
    state, screen = walk(engine, ["3", "2"])
    assert state.node == "main.pick" and screen.text.startswith("Where are you?")


def test_an_option_that_names_a_window_shows_its_hours_and_stores_the_window(paths):
    engine, keep, _ = make_paths(paths)
    _, screen = walk(engine, [])
    assert "4. Mornings 8-12" in screen.text.splitlines()
    _, screen = walk(engine, [], "ar")
    assert "4. الصباح 8-12" in screen.text.splitlines()
    walk(engine, ["4"])
    assert keep.calls[0].vars == {"when": "morning"} and keep.calls[0].context == PHONE


def test_an_option_that_sets_the_language_is_labelled_in_the_callers_language(paths):
    engine, _, _ = make_paths(paths)
    _, screen = walk(engine, [])
    assert "5. Arabic" in screen.text.splitlines()
    state, screen = walk(engine, ["5"])
    assert state.lang == "ar" and screen.text.startswith("القائمة")


def test_an_option_of_the_language_screen_without_a_language_is_in_the_default_one(paths):
    engine, _, greet = make_paths(paths, budget=Budget(gsm7=160, ucs2=140))
    state, screen = engine.begin(None, PHONE)
    assert screen.text.splitlines() == ["اختر اللغة", "Choose language", "1. العربية",
                                        "2. English", "3. مساعدة"]
    assert greet.calls[0].context == PHONE  # an action before the first screen sees who calls
    engine, _, _ = make_paths(paths, budget=Budget(gsm7=160, ucs2=140), default_lang="en")
    _, screen = engine.begin(None)
    assert screen.text.splitlines()[-1] == "3. Help"


def test_a_new_callers_hint_puts_the_default_language_first(paths):
    engine, _, _ = make_paths(paths, default_lang="en")
    state, _ = engine.begin(None)
    _, screen = engine.step(state, "7")
    assert screen.text.startswith("Invalid choice. / اختيار غير صحيح.\n")
    # without a configured default, the catalogue's first language (the reference) leads
    plain = Engine(paths, PATHS_CATALOG, actions={"greet": Keeper()})
    state, _ = plain.begin(None)
    _, screen = plain.step(state, "7")
    assert screen.text.startswith("Invalid choice. / اختيار غير صحيح.\n")


# --- options only some callers see, replay and private paths ----------------------------------

def test_an_option_for_leaders_shows_only_when_the_dial_says_leader(paths):
    engine, _, _ = make_paths(paths)
    _, screen = walk(engine, [])
    assert not any(line.startswith("8.") for line in screen.text.splitlines())
    _, screen = walk(engine, [], vars={"leader": "1"})
    assert "8. Leaders" in screen.text.splitlines()


def test_a_replay_starts_in_the_given_language_with_the_dials_variables_and_context(paths):
    engine, keep, _ = make_paths(paths)
    state, screen = engine.replay(["8"], "en", PHONE, {"leader": "1"})
    assert (state.node, state.lang, screen.text) == ("main.secret", "en", "Private.")
    state, screen = engine.replay(["2", "Amna"], "en", PHONE)
    assert keep.calls[0].context == PHONE and keep.calls[0].vars == {"name": "Amna"}


def test_a_private_path_is_known_from_the_inputs_and_the_dials_variables(paths):
    engine, _, _ = make_paths(paths)
    assert engine.private_path(["8"], "en", {"leader": "1"}) is True
    assert engine.private_path(["8"], "en") is False  # no such option for others


# --- actions ----------------------------------------------------------------------------------

def test_an_outcome_with_a_route_goes_there_and_any_other_goes_next(paths):
    engine, _, _ = make_paths(paths, outcome="odd")
    state, _ = walk(engine, ["2", "Amna"])
    assert state.node == "main.note"
    engine, _, _ = make_paths(paths, outcome="anything")
    state, _ = walk(engine, ["2", "Amna"])
    assert state.node == "main.done"


def test_flow_mistakes_in_actions_raise_a_message_naming_the_node(paths):
    engine, _, _ = make_paths(paths, outcome="weird")
    with pytest.raises(HotlineError, match=r"^main\.strict: no route for outcome 'weird'$"):
        walk(engine, ["6"])
    engine, _, _ = make_paths(paths)
    with pytest.raises(HotlineError, match=r"^more than 16 actions in a row from main\.menu$"):
        walk(engine, ["7"])
    engine, _, _ = make_paths(paths, actions={})
    with pytest.raises(HotlineError, match=r"^no action registered as 'keep'$"):
        walk(engine, ["2", "Amna"])


# --- going back, home, and pages ----------------------------------------------------------------

def test_back_retraces_each_step_and_home_forgets_them(paths):
    engine, _, _ = make_paths(paths)
    state, _ = walk(engine, ["3", "2"])
    assert state.history == (("main.menu", 0), ("main.note", 0))
    state, _ = engine.step(state, "0")
    assert (state.node, state.history) == ("main.note", (("main.menu", 0),))
    state, _ = engine.step(state, "0")
    assert (state.node, state.history) == ("main.menu", ())
    state, _ = walk(engine, ["3", "2", "00"])
    assert (state.node, state.history) == ("main.menu", ())
    state, _ = engine.step(state, "0")  # nothing behind the main menu
    assert state.node == "main.menu"


def test_the_main_menu_reached_by_an_option_has_nothing_behind_it(paths):
    engine, _, _ = make_paths(paths)
    state, screen = walk(engine, ["3", "1"])
    assert (state.node, state.history) == ("main.menu", ())
    assert "0 Back" not in screen.text
    state, _ = engine.step(state, "0")
    assert state.node == "main.menu"


def test_a_stored_page_past_the_end_shows_the_last_page(paths):
    # a record written under a larger screen, replayed on a network with a smaller one
    engine, _, _ = make_paths(paths)
    screen = engine.render(State("main.note", lang="en", page=3,
                                 history=(("main.menu", 0),)))
    assert (screen.node, screen.page, screen.pages) == ("main.note", 0, 1)
    assert screen.text == "A short note.\n1. Menu\n2. Pick a place\n0 Back"


# --- layout: where pages break and where the choices start ---------------------------------------

def test_a_text_page_holds_what_fits_with_its_navigation_and_no_more():
    from hotline.flows.screens import layout

    budget = Budget(gsm7=20, ucs2=20)
    # an end screen has no navigation: a body of exactly 20 characters is one screen
    assert layout(["aaaaa bbbb ccc ddddd"], [], ["", ""], budget).pages == \
        ("aaaaa bbbb ccc ddddd",)
    # the main menu's first page carries only "98 More", later pages "98 More" and "0 Back"
    result = layout(["aaaa bbbb cccc dddd eeee ffff"], [], ["98 More\n0 Back"], budget,
                    first_navs=["98 More"])
    assert result.pages == ("aaaa bbbb", "cccc", "dddd", "eeee", "ffff")


def test_choices_share_the_main_menus_first_page_when_they_fit_with_its_shorter_navigation():
    from hotline.flows.screens import layout

    result = layout(["Menu"], ["1. aaaa", "2. bbbb"], ["0 Back"], Budget(20, 20),
                    first_navs=[""])
    assert result == Layout(("Menu\n1. aaaa\n2. bbbb",), 0)


def test_a_short_list_of_choices_takes_a_page_of_its_own_after_the_text():
    from hotline.flows.screens import layout

    result = layout(["aaaa bbbb cccc dddd eeee"], ["1. xx", "2. yy", "3. zz"], [""],
                    Budget(20, 20))
    assert result == Layout(("aaaa bbbb cccc dddd", "eeee", "1. xx\n2. yy\n3. zz"), 2)


def test_long_choices_start_under_the_text_and_run_on_to_later_pages():
    from hotline.flows.screens import layout

    result = layout(["aaaa bbbb cccc dddd eeee"], ["1. xxxxxxxx", "2. yyyyyyyy", "3. zzzzzzzz"],
                    [""], Budget(20, 20))
    assert result == Layout(("aaaa bbbb cccc dddd", "eeee\n1. xxxxxxxx", "2. yyyyyyyy",
                             "3. zzzzzzzz"), 1)
    result = layout(["aaaa bbbb cccc dddd"], ["1. xxxxxxxx", "2. yyyyyyyy"], [""],
                    Budget(20, 20))
    assert result == Layout(("aaaa bbbb cccc dddd", "1. xxxxxxxx", "2. yyyyyyyy"), 1)


def test_a_word_longer_than_a_screen_is_refused_even_after_other_words():
    from hotline.errors import ScreenTooLong
    from hotline.flows.screens import layout

    with pytest.raises(ScreenTooLong, match=r"^'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' does not fit "
                                            r"one screen$"):
        layout(["ok " + "x" * 40], [], [""], Budget(20, 20))


def test_a_screen_with_nothing_to_show_is_one_empty_page():
    from hotline.flows.screens import layout

    assert layout([], [], ["0 Back"], Budget()) == Layout(("",), 0)


def test_pages_are_cached_by_the_variables_they_read_and_never_served_stale(mini):
    """A screen is laid out once per node, language, budget and the values of the
    variables its texts read: a session's other variables share the entry, and a value,
    language or budget that changes the text gets a layout of its own."""
    engine, _ = make(mini)
    assert engine.reads(mini.graph["main.done"]) == ("code", "ref")
    assert engine.reads(mini.graph["main.menu"]) == ()
    menu = engine.layout("main.menu", "en", {"code": "12"})
    assert engine.layout("main.menu", "en", {"code": "34", "ref": "R9"}) is menu
    done = engine.layout("main.done", "en", {"code": "12", "ref": "R1", "other": "x"})
    assert engine.layout("main.done", "en", {"code": "12", "ref": "R1", "other": "y"}) is done
    assert done.pages == (text(mini, "en", "t.done", code="12", ref="R1"),)
    assert engine.layout("main.done", "en", {"code": "12", "ref": "R2"}).pages == \
        (text(mini, "en", "t.done", code="12", ref="R2"),)
    assert engine.layout("main.done", "en", {"code": "12"}).pages == \
        (text(mini, "en", "t.done", code="12"),)  # an unset variable stays visible
    assert engine.layout("main.done", "ar", {"code": "12", "ref": "R1"}).pages == \
        (text(mini, "ar", "t.done", code="12", ref="R1"),)
    small = Budget(gsm7=40, ucs2=20)
    assert engine.layout("main.info", "en", budget=small).pages != \
        engine.layout("main.info", "en").pages
    _, screens = run(engine, ["2", "2", "12"])
    assert screens[-1].text == text(mini, "en", "t.done", code="12", ref="R1")
    _, screens = run(engine, ["2", "2", "34"])
    assert screens[-1].text == text(mini, "en", "t.done", code="34", ref="R2")
