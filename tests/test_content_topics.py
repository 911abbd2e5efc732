"""Awareness topics and MRRC services, read end to end through the pure engine.

Every topic and every service page is reached with 98, left with 0 and 00, in
every language that has content (nothing here assumes exactly two). The rules
of content-brief.md that a machine can check are checked here too: screen
counts, where-to-get-help screens, SMS copies, characters and placeholders.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import pytest
import yaml

from hotline.content import localized
from hotline.flows import Engine, State, load_graph
from hotline.textcodec import measure, sms_parts

ROOT = Path(__file__).resolve().parents[1]
GRAPH, _ = load_graph(ROOT / "flows")
assert GRAPH is not None

TOPIC_MENU = "awareness.topics"
SERVICE_MENU = "services.list"
CENTRE = "services.centre"
CALLBACK = "callback.reason"  # every topic and service offers a confidential call back
TOPICS = [o.next for o in GRAPH[TOPIC_MENU].options]
SERVICES = [o.next for o in GRAPH[SERVICE_MENU].options if o.next != CENTRE]
PAGED = [*TOPICS, *SERVICES, CENTRE]
CONTENT_FILES = ("awareness", "services", "sms")

# Characters that force English into UCS-2 or that a basic phone may not show.
FORBIDDEN = re.compile("[\u2018\u2019\u201a\u201b\u201c\u201d\u2013\u2014\u2026\u00a0\u200e"
                       "\u200f\u0660-\u0669\u06f0-\u06f9\U0001f000-\U0001ffff\u2600-\u27bf]")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# Words an SMS copy must not carry: a shared phone may be read by someone else.
SENSITIVE = ("traffick", "kidnap", "ransom", "rescue", "mrrc", "iom",
             "اتجار", "الاتجار", "خطف", "فدية", "إنقاذ", "المنظمة")


def _path_to(target: str) -> list[str]:
    """Menu choices from the home menu to ``target``, through menus only."""
    seen, queue = {GRAPH.home}, deque([(GRAPH.home, [])])
    while queue:
        node_id, inputs = queue.popleft()
        if node_id == target:
            return inputs
        node = GRAPH[node_id]
        if node.kind != "menu":
            continue
        for i, option in enumerate(node.options, 1):
            if option.next not in seen:
                seen.add(option.next)
                queue.append((option.next, [*inputs, str(i)]))
    raise AssertionError(f"{target} is not reachable from the home menu through menus")


def _languages(engine: Engine) -> tuple[str, ...]:
    langs = engine.catalog.languages
    assert "en" in langs and "ar" in langs
    return langs


def _texts(lang: str, stem: str) -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(prefix: str, node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}", value)
        else:
            out[prefix] = str(node)

    walk(stem, yaml.safe_load((ROOT / "content" / lang / f"{stem}.yaml").read_text("utf-8")))
    return out


def _content_languages() -> list[str]:
    return sorted(p.name for p in (ROOT / "content").iterdir() if p.is_dir())


@pytest.mark.parametrize("node_id", PAGED)
def test_every_page_is_read_with_98_and_left_with_0_and_00(engine: Engine, node_id: str):
    path = _path_to(node_id)
    parent = _path_parent(path)
    for lang in _languages(engine):
        pages = engine.pages(node_id, lang)
        more, back, home = (engine.catalog.render(lang, k) for k in ("nav.more", "nav.back",
                                                                      "nav.home"))
        state, screen = engine.replay(path, lang)
        assert (screen.node, screen.page, screen.pages) == (node_id, 0, len(pages))
        seen = []
        for i, body in enumerate(pages):
            assert (state.node, state.page) == (node_id, i)
            assert screen.text.startswith(body)
            assert screen.units <= screen.limit, screen.text
            last = i == len(pages) - 1
            assert (more in screen.text) is not last, screen.text
            assert back in screen.text
            assert (home in screen.text) is last
            seen.append(screen.text)
            if not last:
                state, screen = engine.step(state, "98")
        # 98 on the last page stays there, the screen whole, with a hint where it fits
        again, hinted = engine.step(state, "98")
        assert (again.node, again.page) == (node_id, len(pages) - 1)
        assert hinted.text.endswith(screen.text)
        assert hinted.text == screen.text or \
            hinted.text.startswith(engine.catalog.render(lang, "nav.invalid"))
        # every content key of the node was on a screen the caller saw
        for key in GRAPH[node_id].text:
            first_words = engine.catalog.render(lang, key, engine.values).split()[:3]
            assert any(" ".join(first_words) in " ".join(s.split()) for s in seen), (lang, key)
        # 0 walks back page by page, then to the menu it came from
        for i in reversed(range(len(pages) - 1)):
            state, screen = engine.step(state, "0")
            assert (state.node, state.page) == (node_id, i)
        state, screen = engine.step(state, "0")
        assert state.node == parent
        # 00 goes home from the first page and from the last one
        for presses in ([], ["98"] * (len(pages) - 1)):
            state, _ = engine.replay(path + presses, lang)
            state, screen = engine.step(state, "00")
            assert (state.node, state.page, state.history) == (GRAPH.home, 0, ())


def _path_parent(path: list[str]) -> str:
    node_id = GRAPH.home
    for choice in path[:-1]:
        node_id = GRAPH[node_id].options[int(choice) - 1].next
    return node_id


@pytest.mark.parametrize("node_id", [n for n in PAGED if GRAPH[n].options])
def test_links_on_the_last_page_lead_where_they_say(engine: Engine, node_id: str):
    path = _path_to(node_id)
    for lang in _languages(engine):
        pages = engine.pages(node_id, lang)
        state, screen = engine.replay(path + ["98"] * (len(pages) - 1), lang)
        for i, option in enumerate(GRAPH[node_id].options, 1):
            label = engine.catalog.render(lang, option.label)
            assert f"{i}. {label}" in screen.text
            after, _ = engine.step(state, str(i))
            assert after.node == option.next
            back, _ = engine.step(after, "0")
            assert (back.node, back.page) == (node_id, len(pages) - 1)


def test_eight_or_more_topics_of_two_to_five_screens(engine: Engine):
    assert len(TOPICS) >= 8
    for lang in _languages(engine):
        for node_id in TOPICS:
            node = GRAPH[node_id]
            assert node.kind == "message"
            assert 2 <= len(node.text) <= 5
            assert 2 <= len(engine.pages(node_id, lang)) <= 5, (node_id, lang)


def test_services_have_two_to_five_screens_and_say_how_to_ask(engine: Engine):
    assert len(SERVICES) == 6
    hotline = engine.values["centre_hotline"]
    for lang in _languages(engine):
        for node_id in SERVICES:
            pages = engine.pages(node_id, lang)
            assert 2 <= len(pages) <= 5, (node_id, lang)
            assert hotline in "\n".join(pages[-2:]), (node_id, lang)
            assert CALLBACK in [o.next for o in GRAPH[node_id].options]


def test_each_topic_ends_with_where_to_get_help_and_a_callback(engine: Engine):
    numbers = (engine.values["centre_hotline"], engine.values["police_number"])
    for lang in _languages(engine):
        for node_id in TOPICS:
            last = "\n".join(engine.pages(node_id, lang)[-2:])
            assert any(n in last for n in numbers), (node_id, lang)
            assert CALLBACK in [o.next for o in GRAPH[node_id].options]


def test_centre_screen_shows_every_centre_value(engine: Engine):
    for lang in _languages(engine):
        shown = "\n".join(engine.pages(CENTRE, lang))
        for name, value in localized(engine.values, lang).items():
            if value:  # an optional number left empty (ambulance_number) is not shown
                assert value in shown, (lang, name)


def test_one_neutral_sms_copy_per_topic_of_at_most_three_parts(engine: Engine):
    topics = {n.split(".", 1)[1] for n in TOPICS}
    for lang in _languages(engine):
        copies = {k.split(".")[2]: k for k in engine.catalog.keys(lang)
                  if k.startswith("sms.awareness.")}
        assert set(copies) == topics, lang
        for key in copies.values():
            text = engine.catalog.render(lang, key, engine.values)
            assert sms_parts(text) <= 3, (key, lang, measure(text))
            assert not [w for w in SENSITIVE if w in text.lower()], (key, lang)


@pytest.mark.parametrize("lang", _content_languages())
@pytest.mark.parametrize("stem", CONTENT_FILES)
def test_text_is_plain_for_a_basic_phone(stem: str, lang: str):
    for key, text in _texts(lang, stem).items():
        assert not FORBIDDEN.findall(text), (key, FORBIDDEN.findall(text))
        assert text == text.strip() and "  " not in text, key
        bare = PLACEHOLDER.sub("", text)
        assert "{" not in bare and "}" not in bare, key
        assert not re.search(r"\d{3,}", bare), f"{key}: a number belongs in config [centre]"
        if lang == "en":
            assert bare.isascii(), key
            assert measure(bare).encoding == "GSM-7", key


def test_same_keys_and_placeholders_in_every_language():
    langs = _content_languages()
    for stem in CONTENT_FILES:
        reference = _texts("en", stem)
        for lang in langs:
            texts = _texts(lang, stem)
            assert set(texts) == set(reference), (stem, lang)
            for key, text in texts.items():
                assert sorted(PLACEHOLDER.findall(text)) == \
                    sorted(PLACEHOLDER.findall(reference[key])), (lang, key)


def test_a_returning_caller_reaches_topics_from_home(engine: Engine):
    for lang in _languages(engine):
        state, screen = engine.begin(lang)
        assert state == State(node=GRAPH.home, lang=lang)
        state, _ = engine.replay(_path_to(TOPIC_MENU), lang)
        assert state.node == TOPIC_MENU


# --- facts that matter (content-review.md): checked on the screens a caller reads ------------

def _shown(engine: Engine, node_id: str, lang: str) -> str:
    return " ".join("\n".join(engine.pages(node_id, lang)).split())


def test_the_police_number_is_labelled_police_and_never_on_the_medical_screen(engine: Engine):
    police = engine.values["police_number"]
    label = {"en": "Police", "ar": "الشرطة"}
    for lang in ("en", "ar"):
        assert police not in _shown(engine, "services.medical", lang)
        for node_id in GRAPH.nodes:  # the callback screens are checked with the callback flow
            if node_id.startswith(("awareness.", "services.")):
                for body in engine.pages(node_id, lang):
                    if police in body:
                        assert label[lang] in body, (node_id, lang, body)
                        assert body.index(label[lang]) < body.index(police)
        for key in sorted(k for k in engine.catalog.keys(lang) if k.startswith("sms.awareness.")):
            text = engine.catalog.render(lang, key, engine.values)
            if police in text:
                assert label[lang] in text and text.index(engine.values["centre_hotline"]) < \
                    text.index(police), (key, lang)


def test_contact_us_shows_the_centre_and_missed_call_numbers_first_and_offers_a_call(
        engine: Engine):
    for lang in _languages(engine):
        pages = engine.pages(CENTRE, lang)
        assert engine.values["centre_hotline"] in pages[0], lang
        assert engine.values["callback_number"] in pages[1], lang
        assert CALLBACK in [o.next for o in GRAPH[CENTRE].options]
        assert engine.catalog.render(lang, "menu.callback") in pages[-1]


def test_rights_come_first_and_arabic_topics_fit_three_pages(engine: Engine):
    assert TOPICS[0] == "awareness.rights"
    assert len(engine.pages(TOPIC_MENU, "ar")) <= 3


def test_request_a_call_cannot_be_read_as_contact_us(engine: Engine):
    for lang in _languages(engine):
        labels = [engine.catalog.render(lang, o.label) for o in GRAPH[GRAPH.home].options]
        assert len(set(labels)) == len(labels)
    assert engine.catalog.render("ar", "menu.callback") == "اتصلوا بي"


@pytest.mark.parametrize("node_id,lang,words", [
    ("services.orientation", "en", ["a loan you repay"]),
    ("services.orientation", "ar", ["قرض تسدده"]),
    ("services.avrr", "en", ["in some cases", "we will not send you back"]),
    ("services.avrr", "ar", ["وقد ندعمك", "ولن نعيدك"]),
    ("awareness.rights", "en", ["right to ask for asylum"]),
    ("awareness.rights", "ar", ["حق طلب اللجوء"]),
    ("awareness.documents", "en", ["embassy of the country you are going to"]),
    ("awareness.documents", "ar", ["سفارة البلد الذي تقصده"]),
    ("awareness.smugglers", "en", ["Often these promises are lies"]),
    ("awareness.before_go", "en", ["within 3 days"]),
    ("awareness.before_go", "ar", ["خلال 3 أيام"]),
    ("services.medical", "en", ["within 3 days"]),
    ("services.medical", "ar", ["خلال 3 أيام"]),
    ("services.referral", "en", ["information session"]),
    ("services.referral", "ar", ["جلسة توعية"]),
    ("services.protection", "ar", ["مجانا وبسرية"]),
])
def test_corrected_facts_are_on_the_screens(engine: Engine, node_id: str, lang: str,
                                            words: list[str]):
    shown = _shown(engine, node_id, lang)
    for word in words:
        assert word in shown, (node_id, lang, word)


@pytest.mark.parametrize("node_id,lang,wrong", [
    ("services.orientation", "en", "for free"),
    ("services.orientation", "ar", "مجانا"),
    ("awareness.smugglers", "en", "Most of"),
    ("awareness.smugglers", "ar", "أغلبها"),
    ("services.centre", "ar", "MRRC"),
    ("services.protection", "ar", "والعودة لبلدك"),
])
def test_wrong_or_misleading_words_are_gone(engine: Engine, node_id: str, lang: str,
                                            wrong: str):
    assert wrong not in _shown(engine, node_id, lang)
