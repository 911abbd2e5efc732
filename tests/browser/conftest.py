"""Fixtures of every browser test: the app served on a free port in a thread, the Debian
Chromium driven by Playwright, and a page that fails its test on any console or script
error (a CSP violation shows up there)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from tests.browserkit import ARGS, CHROMIUM


@pytest.fixture()
def server(app: Flask) -> Iterator[str]:
    app.config["STAFF"]["refresh_seconds"] = 2  # so the test sees the queue refresh itself
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


@pytest.fixture()
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def problems() -> list[str]:
    """Console errors and script errors of the page; a test may take out what it expects."""
    return []


@pytest.fixture()
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    context.close()
    assert problems == [], problems  # a CSP violation or a script error shows up here
