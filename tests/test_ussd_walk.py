"""Crawl every screen a caller can reach, in both languages, through the USSD webhook.

Each screen is reached by posting its whole ``text`` path in a fresh session (the
webhook rebuilds it by replay, as after a lost record), and on every screen one
invalid input is sent too. Every screen must fit its budget, show options or a way
on, and put each navigation item on a line of its own; the invalid input must show
the same screen whole.
"""

import re
import secrets

import pytest

from hotline.textcodec import measure
from tests.conftest import TOKEN

OPTION = re.compile(r"^(\d{1,2})\. \S")
INVALID = "96"
MAX_SCREENS = 400


def post(client, phone: str, text: str) -> str:
    response = client.post(f"/webhooks/at/ussd?token={TOKEN}", data={
        "sessionId": "ATUid_" + secrets.token_hex(12), "serviceCode": "*384*1234#",
        "phoneNumber": phone, "networkCode": "63401", "text": text})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.startswith(("CON ", "END ")), body
    return body


def check_screen(body: str, nav_words: list[str], path: str) -> None:
    screen = body[4:]
    cost = measure(screen)
    assert cost.units <= (160 if cost.encoding == "GSM-7" else 70), (path, screen)
    lines = screen.splitlines()
    for line in lines:
        assert sum(line.count(w) for w in nav_words) <= 1, (path, screen)
        if any(w in line for w in nav_words):
            assert line in nav_words, (path, screen)
    if body.startswith("CON "):  # a way on: options, more, or back
        assert any(OPTION.match(ln) for ln in lines) or any(ln in nav_words for ln in lines), \
            (path, screen)


def crawl(app, client, phone: str, lang: str, first: str) -> int:
    catalog = app.extensions["hotline.catalog"]
    nav_words = [catalog.render(lang, k) for k in ("nav.more", "nav.back", "nav.home")]
    hint = catalog.render(lang, "nav.invalid")
    assert post(client, phone, first).startswith("CON ")  # the language is now remembered
    seen: dict[str, str] = {}
    todo = [""]
    while todo:
        path = todo.pop(0)
        body = post(client, phone, path)
        check_screen(body, nav_words, path)
        if body in seen.values():
            continue
        seen[path] = body
        assert len(seen) < MAX_SCREENS
        if body.startswith("END "):
            continue
        screen = body[4:]
        language_screen = all(catalog.render(lg, "language.prompt") in screen
                              for lg in catalog.languages)
        # an invalid input: the same screen, whole, with the hint only where it fits
        wrong = post(client, phone, f"{path}*{INVALID}" if path else INVALID)
        check_screen(wrong, nav_words, path + "*" + INVALID)
        assert wrong[4:] in (screen, f"{hint}\n{screen}") or (
            wrong[4:].startswith(hint) and all(
                ln in wrong for ln in screen.splitlines() if OPTION.match(ln) or
                ln in nav_words)), (path, screen, wrong)
        for line in screen.splitlines():
            match = None if language_screen else OPTION.match(line)  # stay in this language
            if match:
                todo.append(f"{path}*{match[1]}" if path else match[1])
            elif line == nav_words[0]:
                todo.append(f"{path}*98" if path else "98")
    return len(seen)


@pytest.mark.parametrize(("lang", "choice"), [("ar", "1"), ("en", "2")])
def test_every_reachable_screen_in_both_languages(app, client, lang, choice):
    graph = app.extensions["hotline.engine_for"]("").graph
    # a new caller's first screen, in every language, and its invalid input
    first = post(client, "+249911000001", "")
    check_screen(first, [], "")
    hinted = post(client, "+249911000001", INVALID)
    assert hinted.startswith("CON اختيار غير صحيح. / Invalid choice.\n")  # it replaced the title
    assert hinted.endswith("\n1. العربية\n2. English")
    count = crawl(app, client, f"+24991100000{2 if lang == 'ar' else 3}", lang, choice)
    # every screen node was met (the action-made variants of a day aside)
    assert count >= len([n for n in graph.nodes.values() if n.kind != "action"]) // 2
