"""Defences at the edges that a user or an operator relies on without seeing them work:
the webhook token, the token kept out of the access log, formula-safe CSV cells, and
replies sent before bulk messages.

Each test here was written against a change that left the rest of the suite green
(issue 14): the docstrings name the change it catches.
"""

import csv
import io
import logging
import threading
import urllib.request

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from werkzeug.serving import make_server

from hotline.cli import cli
from hotline.extensions import db
from hotline.jobqueue import jobs
from hotline.models import CallbackRequest
from tests.conftest import PHONE, TOKEN
from tests.staffkit import Staff, make_request, make_user, quick_hashing

HOP = {"sessionId": "ATUid_guard", "serviceCode": "*384*1234#", "phoneNumber": PHONE,
       "networkCode": "63401", "text": ""}


@pytest.mark.parametrize("query", ["", "?token=", "?token=%20"])
def test_an_empty_configured_token_refuses_requests_without_one(app, client, query):
    """Catches: an empty configured token compared as equal to an empty given one."""
    app.config["WEBHOOK_TOKEN"] = ""
    for path in ("/webhooks/at/ussd", "/webhooks/at/voice"):
        response = client.post(path + query, data=HOP)
        assert response.status_code == 403, path
    assert db.session.scalar(db.select(db.func.count()).select_from(CallbackRequest)) == 0


class Lines(logging.Handler):
    """The access log as an operator reads it: each record formatted."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_of_a_real_server_never_shows_the_token(make_app):
    """Catches: the redacting filter never installed on the access log (calling the
    filter by hand, as the older test does, cannot tell)."""
    access = logging.getLogger("werkzeug")
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)  # prove creating the app installs it
    written, level, disabled = Lines(), access.level, access.disabled
    access.addHandler(written)
    access.setLevel(logging.INFO)
    access.disabled = False  # alembic's fileConfig (the migrated fixture) disables it
    try:
        app = make_app()
        server = make_server("127.0.0.1", 0, app)
        thread = threading.Thread(target=server.handle_request, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}/healthz?token={TOKEN}&x=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        thread.join(timeout=10)
        server.server_close()
    finally:
        access.removeHandler(written)
        access.setLevel(level)
        access.disabled = disabled
        logging.setLogRecordFactory(factory)
    lines = written.lines
    assert any("/healthz?" in line for line in lines), lines
    assert TOKEN not in "\n".join(lines)


@pytest.fixture()
def supervisor(app, monkeypatch) -> Staff:
    quick_hashing(monkeypatch)
    make_user("sue@example.org", role="supervisor", name="Sue")
    return Staff(app, "sue@example.org")


@pytest.mark.parametrize("start", ["\r", "\t"])
def test_a_csv_cell_starting_with_a_control_character_is_neutralised(app, supervisor, start):
    """Catches: a cell starting with a carriage return (or tab) left as it is; spreadsheets
    skip it and run the formula behind it."""
    row = db.session.get(CallbackRequest, make_request())
    row.outcome = start + "=HYPERLINK(\"http://x.y\")"
    db.session.commit()
    response = supervisor.post("/staff/export", {"status": "all"}, page="/staff/stats")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True)[1:])))
    outcome = rows[1][rows[0].index("Outcome")]
    assert outcome == "'" + start + "=HYPERLINK(\"http://x.y\")"


def test_workers_send_replies_before_bulk(app):
    """Catches: the worker listening to ``bulk`` (or ``default``) before ``replies``: a
    caller's answer must not wait behind a broadcast."""
    queue = jobs()
    for name in ("bulk", "default", "replies", "bulk", "replies"):
        queue.enqueue("tests.jobfixtures.note", "ran", name, queue=name)
    result = CliRunner().invoke(cli, ["worker", "--burst"],
                                obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    ran = [v.decode() for v in app.extensions["hotline.redis"].lrange("ran", 0, -1)]
    assert ran == ["replies", "replies", "default", "bulk", "bulk"]
