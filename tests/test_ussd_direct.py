"""Hops answered without Flask's request machinery (``hotline.webhooks.ussd.DirectHops``)
get exactly what the Flask view answers, for good hops and every kind of bad one."""

import io
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.test import EnvironBuilder

from hotline import deadline
from hotline.extensions import db
from hotline.webhooks.ussd import DirectHops
from tests.conftest import PHONE, TOKEN

HOP = {"sessionId": "ATUid_direct", "serviceCode": "*384*1234#", "phoneNumber": PHONE,
       "networkCode": "63401", "text": ""}


def direct_of(app) -> DirectHops:
    found = app.wsgi_app.wsgi_app  # inside SecurityHeaders
    assert isinstance(found, DirectHops)
    return found


def call(wsgi: Any, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    said: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        said.update(status=status, headers=headers)

    body = b"".join(wsgi(environ, start_response))
    return said["status"], said["headers"], body


def environ_for(query: str = f"token={TOKEN}", body: bytes | None = None,
                **extra: Any) -> dict:
    data = urlencode(HOP).encode() if body is None else body
    environ = EnvironBuilder(path="/webhooks/at/ussd", method="POST", query_string=query,
                             data=data,
                             content_type="application/x-www-form-urlencoded").get_environ()
    environ.update(extra)
    return environ


def both(app, make: Any) -> tuple[tuple, tuple]:
    """The same request through the direct path and through Flask's view."""
    direct = direct_of(app)
    return call(direct, make()), call(direct.wsgi_app, make())


NUL = urlencode({**HOP, "text": "1\x00"}).encode()
CASES = {
    "a dial": lambda: environ_for(),
    "a wrong token": lambda: environ_for(query="token=wrong"),
    "no token": lambda: environ_for(query=""),
    "the token among other parameters": lambda: environ_for(query=f"a=1&token={TOKEN}"),
    "a field missing": lambda: environ_for(body=urlencode(
        {k: v for k, v in HOP.items() if k != "sessionId"}).encode()),
    "no text field": lambda: environ_for(body=urlencode(
        {k: v for k, v in HOP.items() if k != "text"}).encode()),
    "a non-UTF-8 body": lambda: environ_for(body=urlencode(HOP).encode() + b"&x=%FF"),
    "raw bytes outside ASCII": lambda: environ_for(body=b"sessionId=\xd8\xa7"),
    "a NUL in a field": lambda: environ_for(body=NUL),
    "a field too long": lambda: environ_for(body=urlencode({**HOP, "text": "1" * 4001}).encode()),
    "too many fields": lambda: environ_for(body="&".join(f"f{i}=1" for i in range(60)).encode()),
    "an empty body": lambda: environ_for(body=b""),
    "a body over the limit": lambda: environ_for(body=b"x=" + b"1" * (256 * 1024)),
    "a Content-Length that is not a number": lambda: environ_for(CONTENT_LENGTH="ten"),
    "a chunked body": lambda: environ_for(CONTENT_LENGTH="", **{"wsgi.input_terminated": True}),
    "a chunked body over the limit": lambda: environ_for(
        body=b"x=" + b"1" * (256 * 1024), CONTENT_LENGTH="", **{"wsgi.input_terminated": True}),
    "a script in a field": lambda: environ_for(body=urlencode(
        {**HOP, "sessionId": "<script>alert(1)</script>", "text": "1"}).encode()),
}


EXPECTED = {"a dial": 200, "a wrong token": 403, "no token": 403,
            "the token among other parameters": 200, "a field missing": 400,
            "no text field": 400, "a non-UTF-8 body": 400, "raw bytes outside ASCII": 400,
            "a NUL in a field": 400, "a field too long": 400, "too many fields": 400,
            "an empty body": 400, "a body over the limit": 413,
            "a Content-Length that is not a number": 400, "a chunked body": 200,
            "a chunked body over the limit": 413, "a script in a field": 200}


@pytest.mark.parametrize("case", list(CASES))
def test_the_direct_path_answers_as_the_flask_view_does(app, case):
    (status, headers, body), (f_status, f_headers, f_body) = both(app, CASES[case])
    assert int(status[:3]) == EXPECTED[case]
    assert (status, body) == (f_status, f_body)
    assert dict(headers)["Content-Type"] == dict(f_headers)["Content-Type"]
    assert int(dict(headers)["Content-Length"]) == len(body)
    assert status[:3] != "500" and b"Traceback" not in body


def test_a_hop_is_answered_by_the_direct_path_and_other_requests_by_flask(app, client):
    seen: list[str] = []
    app.before_request_funcs.setdefault(None, []).append(lambda: seen.append("flask"))
    screen = client.post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP)
    assert screen.status_code == 200 and screen.text.startswith("CON ")
    assert seen == []  # no Flask hook ran
    assert screen.headers["X-Content-Type-Options"] == "nosniff"  # added outside it
    client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data={})
    client.get(f"/webhooks/at/ussd?token={TOKEN}")  # not a POST: Flask answers 405
    assert seen == ["flask", "flask"]


def test_a_direct_hop_leaves_no_deadline_and_no_session_behind(app, client):
    db.session.remove()
    client.post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP)
    assert deadline.current() is None
    assert not db.session.registry.has()


def test_a_bug_in_a_hop_is_a_500_with_the_details_in_the_log(app, client, caplog,
                                                              monkeypatch):
    def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("hotline.webhooks.ussd.answer", broken)
    response = client.post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP)
    assert response.status_code == 500 and response.text == "500 Internal Server Error\n"
    assert "a bug" in caplog.text and "Traceback" not in response.text
    assert deadline.current() is None


def test_a_direct_hop_reads_no_more_than_its_content_length(app):
    environ = environ_for()
    environ["wsgi.input"] = io.BytesIO(urlencode(HOP).encode() + b"&text=ignored")
    environ["CONTENT_LENGTH"] = str(len(urlencode(HOP)))
    status, _, body = call(direct_of(app), environ)
    assert status.startswith("200") and body.startswith(b"CON ")


def test_a_direct_hop_runs_under_the_gateways_deadline(app, client, monkeypatch):
    """A hop that waits on a hung database is cut at ``ussd_hop_seconds`` (the gateway
    waits about 10 s), as under Flask's hook: the deadline is the hop's, not a page's."""
    seen = []

    def watched(fields: Any, service: Any) -> tuple[int, str]:
        current = deadline.current()
        seen.append(current.expires - current.started if current else None)
        return 200, "END ok"

    monkeypatch.setattr("hotline.webhooks.ussd.answer", watched)
    client.post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP)
    limits = app.config["LIMITS"]
    assert seen == [pytest.approx(limits["ussd_hop_seconds"])]
    assert limits["ussd_hop_seconds"] != limits["request_seconds"]
