"""Fixtures of every browser test: the app served on a free port in a thread, the Debian
Chromium driven by Playwright, and a page that fails its test on any console or script
error (a CSP violation shows up there)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.browserkit import ARGS, CHROMIUM

_RESPONSE = "tests.response"


class _ClosingHandler(WSGIRequestHandler):
    """Closes every response, even when Chromium drops the connection.

    werkzeug's development server closes the response at the end of a ``finally`` that
    first drains the socket; when the browser has reset the connection (it cancels a
    stylesheet request on navigation, more often on a loaded machine) that read raises,
    the close is skipped, and the open static file surfaces later as an unraisable
    ``ResourceWarning`` in whichever test is running. gunicorn, which serves production,
    closes it."""

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            response = getattr(self, "environ", {}).pop(_RESPONSE, None)
            if response is not None and hasattr(response, "close"):
                response.close()


def _remembering(app: Flask) -> Callable[..., Any]:
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        environ[_RESPONSE] = response = app(environ, start_response)
        return response
    return serve


@pytest.fixture()
def server(app: Flask) -> Iterator[str]:
    app.config["STAFF"]["refresh_seconds"] = 2  # so the test sees the queue refresh itself
    httpd = make_server("127.0.0.1", 0, _remembering(app), threaded=True,
                        request_handler=_ClosingHandler)
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
