"""Invalid input never hides the screen, and ``0`` after it goes back from that screen.

Pure and table-driven: the real flows and content in a pure engine (no app, no
database), in both languages, and ``with_hint`` on its own.
"""

import pytest

from hotline.flows import ActionResult, Engine, State
from hotline.flows.screens import with_hint
from hotline.textcodec import Budget

INVALID = ("96", "55", "x", "98")  # no such option; 98 on a last page is invalid too


@pytest.mark.parametrize(("hint", "body", "nav", "options", "budget", "expected"), [
    # fits: the hint on top of the unchanged screen
    ("Bad.", "Title\n1. A\n2. B", "0 Back", ("1. A", "2. B"), Budget(160, 70),
     "Bad.\nTitle\n1. A\n2. B\n0 Back"),
    # does not fit: the hint takes the menu title's place
    ("Invalid choice.", "A long title here\n1. A\n2. B", "0 Back", ("1. A", "2. B"),
     Budget(40, 20), "Invalid choice.\n1. A\n2. B\n0 Back"),
    # no title to replace (a list of options alone): the screen unchanged, hint dropped
    ("Invalid choice.", "1. Alpha\n2. Beta\n3. Gamma", "98 More", ("1. Alpha", "2. Beta",
     "3. Gamma"), Budget(40, 20), "1. Alpha\n2. Beta\n3. Gamma\n98 More"),
    # a page of text (a message's options are not a menu title): never replaced
    ("Invalid choice.", "Some facts to read here.", "98 More\n0 Back", (), Budget(50, 20),
     "Some facts to read here.\n98 More\n0 Back"),
    # Arabic: the hint replaces the title when the whole would pass 70
    ("اختيار غير صحيح.", "متى نتصل؟ اختر الوقت المناسب لك\n1. صباحا 8-12\n2. ظهرا 12-3",
     "0 رجوع\n00 القائمة", ("1. صباحا 8-12", "2. ظهرا 12-3"), Budget(160, 70),
     "اختيار غير صحيح.\n1. صباحا 8-12\n2. ظهرا 12-3\n0 رجوع\n00 القائمة"),
    # an end of a session has no navigation
    ("Bad.", "Bye.", "", (), Budget(), "Bad.\nBye."),
])
def test_hint_fallback(hint, body, nav, options, budget, expected):
    shown = with_hint(hint, body, nav, budget, options)
    assert shown == expected
    assert budget.fits(shown)
    assert shown != hint  # never the hint alone


def every_page(engine: Engine):
    """(state, screen) for every page of every screen node, in both languages."""
    graph = engine.graph
    for node in graph.nodes.values():
        if node.kind in {"action", "end"}:
            continue
        for lang in engine.catalog.languages:
            pages = engine.pages(node.id, lang, {"ref": "2345678", "until": "15:00"})
            for page in range(len(pages)):
                history = () if node.id == graph.home else ((graph.home, 0),)
                state = State(node.id, lang=lang, page=page, history=history,
                              vars={"ref": "2345678", "until": "15:00"})
                yield state, engine.render(state)


def test_an_invalid_input_shows_the_same_screen_whole(engine: Engine):
    checked = 0
    for state, screen in every_page(engine):
        for value in INVALID:
            if value == "98" and screen.page < screen.pages - 1:
                continue  # 98 is valid before the last page
            after, hinted = engine.step(state, value)
            assert (after.node, after.page, after.history) == \
                (state.node, state.page, state.history)
            assert hinted.text.endswith(screen.text.splitlines()[-1])  # the nav line or option
            options = [ln for ln in screen.text.splitlines() if ln[:1].isdigit() and ". " in ln]
            for line in options:
                assert line in hinted.text, (state, hinted.text)
            assert hinted.units <= hinted.limit, hinted.text
            assert hinted.text != engine.catalog.render(state.lang, "nav.invalid")
            checked += 1
    assert checked > 200


def test_zero_after_an_invalid_input_goes_back_from_the_same_screen(engine: Engine):
    for state, _ in every_page(engine):
        back, back_screen = engine.step(state, "0")
        for value in INVALID[:3]:
            hinted_state, _ = engine.step(state, value)
            again, again_screen = engine.step(hinted_state, "0")
            assert (again.node, again.page, again.history) == \
                (back.node, back.page, back.history), (state.node, value)
            assert again_screen.text == back_screen.text


@pytest.mark.parametrize(("lang", "choice"), [("ar", "1"), ("en", "2")])
def test_the_issue_case_mistype_on_the_main_menu_then_zero(engine: Engine, lang, choice):
    """A new caller mistypes on the main menu: the menu stays, and 0 does not leave it."""
    state, _ = engine.begin(None)
    state, menu = engine.step(state, choice)
    state, hinted = engine.step(state, "9")
    assert hinted.text.endswith(menu.text)
    state, after = engine.step(state, "0")
    assert state.node == engine.graph.home and after.text == menu.text


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_navigation_items_are_each_on_a_line_of_their_own(engine: Engine, lang):
    words = [engine.catalog.render(lang, k) for k in ("nav.more", "nav.back", "nav.home")]
    for state, screen in every_page(engine):
        if state.lang != lang:
            continue
        for line in screen.text.splitlines():
            assert sum(line.count(w) for w in words) <= 1, screen.text
            if any(w in line for w in words):
                assert line in words, screen.text


def test_private_path_is_judged_without_running_actions(engine: Engine):
    def boom(call):  # pragma: no cover - must never run
        raise AssertionError("an action ran")

    engine = Engine(engine.graph, engine.catalog, values=engine.values,
                    actions={"callback.submit": boom}, windows=engine.windows)
    # home -> request a call -> danger -> not safe to call
    assert engine.private_path(["4", "1", "3"], "en")
    assert engine.private_path(["4", "1", "3", "0", "0"], "ar")  # left again: still private
    assert not engine.private_path(["1", "1", "98"], "en")  # a topic read
    assert not engine.private_path(["4", "1", "1"], "en")  # safe to call: not private
    # a path through an action cannot be followed without it: kept nowhere either
    assert engine.private_path(["4", "1", "1", "2", "1"], "en")


def test_windows_fill_the_hours_of_option_labels(engine: Engine):
    other = Engine(engine.graph, engine.catalog, values=engine.values,
                   windows={"morning": "7-11", "afternoon": "11-2", "evening": "6-9"},
                   actions={"x": lambda c: ActionResult()})
    for lang in ("ar", "en"):
        state = State("callback.times", lang=lang, history=(("callback.safe", 0),))
        text = other.render(state).text
        assert "7-11" in text and "11-2" in text and "6-9" in text
        assert "{hours}" not in text
