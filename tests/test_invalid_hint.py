"""A caller who mistypes sees the hint and still sees where they are and what to press,
within the screen budget, in every language, on every menu of the real flows.

Written against two changes that left the suite green (issue 14): the fallback that
showed the hint without the menu's choices, and a hinted screen over the budget.
"""

import pytest

from hotline.flows import State
from hotline.flows.screens import with_hint
from hotline.textcodec import Budget, measure

BUDGET = Budget(60, 60)
OPTIONS = ["1. Alpha", "2. Beta"]
NAV = "0 Back"


def test_the_hint_goes_on_top_when_it_fits():
    body = "Title\n" + "\n".join(OPTIONS)
    assert with_hint("Invalid.", body, NAV, BUDGET, OPTIONS) == f"Invalid.\n{body}\n{NAV}"


def test_when_it_does_not_fit_the_hint_takes_the_titles_place_and_every_choice_stays():
    body = "A title long enough to push the screen over\n" + "\n".join(OPTIONS)
    assert not BUDGET.fits(f"Invalid.\n{body}\n{NAV}")
    assert with_hint("Invalid.", body, NAV, BUDGET, OPTIONS) == \
        "\n".join(["Invalid.", *OPTIONS, NAV])


def test_never_the_hint_alone_when_the_choices_do_not_fit_with_it():
    options = ["1. " + "a" * 25, "2. " + "b" * 25]
    body = "Title\n" + "\n".join(options)
    assert with_hint("Invalid choice, try again.", body, NAV, BUDGET, options) == \
        f"{body}\n{NAV}"


def test_a_screen_without_choices_never_shows_the_hint_alone():
    body = "A message far too long to leave any room for a hint above it here"
    assert not BUDGET.fits(f"Invalid.\n{body}\n{NAV}")
    assert with_hint("Invalid.", body, NAV, BUDGET, []) == f"{body}\n{NAV}"
    assert with_hint("Invalid.", body, "", BUDGET, []) == body


def menu_states(engine):
    for node in engine.graph.nodes.values():
        if node.kind != "menu":
            continue
        for lang in (*engine.catalog.languages, None):
            pages = engine.pages(node.id, lang or engine.default_lang, {})
            for page in range(len(pages)):
                # the main menu is the root (entering it clears the history); any other
                # menu is reached from somewhere, so it shows "back"
                history = () if node.id == engine.graph.home else ((engine.graph.home, 0),)
                yield State(node.id, lang=lang, page=page, history=history)


def test_every_hinted_menu_screen_fits_and_keeps_every_choice(engine):
    checked = 0
    for state in menu_states(engine):
        plain = engine.render(state)
        hinted = engine.render(state, hint=True)
        cost = measure(hinted.text)
        assert cost.units <= engine.budget.limit(cost.encoding), (state, hinted.text)
        choices = [line for line in plain.text.splitlines() if line[:1].isdigit()]
        assert all(line in hinted.text.splitlines() for line in choices), \
            (state, plain.text, hinted.text)
        assert hinted.text.endswith(plain.text.splitlines()[-1])  # the navigation line
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("lang", ["ar", "en"])
def test_a_mistyped_choice_on_the_main_menu_keeps_the_menu(engine, lang):
    state = State(engine.graph.home, lang=lang)
    plain = engine.render(state)
    after, hinted = engine.step(state, "x")
    assert after.node == state.node
    # the hint where it fits (the full Arabic main menu has no room for it)
    assert hinted.text.startswith(engine.catalog.render(lang, "nav.invalid")) \
        or hinted.text == plain.text
    assert [ln for ln in hinted.text.splitlines() if ln in plain.text.splitlines()] == \
        plain.text.splitlines()
