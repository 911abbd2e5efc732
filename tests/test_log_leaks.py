"""No phone number, e-mail, webhook token or secret key in any log line, whatever fails.

The redactor is installed by ``create_app`` and by ``config/gunicorn.conf.py``, never
by these tests: they drive failures (a database connection cut mid-statement, a table
gone, bad tokens, invalid input) and read every line that was logged, in this process
and in a real gunicorn with its access log on.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN, overrides
from tests.faultproxy import FaultProxy

PHONE = "+249912345678"
EMAIL = "leaky.agent@example.org"
SECRET = overrides()["SECRET_KEY"]
ROOT = Path(__file__).resolve().parents[1]


def leaks(text: str) -> list[str]:
    """Which of the things that must never be logged appear in ``text``."""
    found = [name for name, value in (("token", TOKEN), ("secret key", SECRET),
                                      ("e-mail", EMAIL)) if value in text]
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "\n")
    if "249912345678" in digits.replace("\n", " ") or "912345678" in text.replace(" ", ""):
        found.append("phone number")
    return found


def everything_logged(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in records)


def test_driven_failures_log_no_number_email_token_or_secret(app, make_app, caplog):
    url = sa.engine.make_url(DATABASE_URL)
    proxy = FaultProxy((url.host or "127.0.0.1", url.port or 5432)).start()
    host, port = proxy.address()
    faulty = make_app(DATABASE_URL=url.set(host=host, port=port)
                      .render_as_string(hide_password=False),
                      LIMITS={"ussd_hop_seconds": 1.0, "request_seconds": 1.0})
    client = faulty.test_client()
    hop = {"sessionId": "ATUid_leak", "serviceCode": "*384*1234#", "phoneNumber": PHONE,
           "networkCode": "63401", "text": ""}
    ring = {"isActive": "1", "sessionId": "ATVId_leak", "direction": "Inbound",
            "callerNumber": PHONE, "destinationNumber": "+249900000000"}
    with caplog.at_level(logging.DEBUG):
        # a database connection cut in the middle of statements
        proxy.set("hang")
        cut = threading.Timer(0.3, proxy.set, args=("drop",))
        cut.start()
        assert client.post(f"/webhooks/at/ussd?token={TOKEN}", data=hop).status_code == 200
        assert client.post(f"/webhooks/at/voice?token={TOKEN}", data=ring).status_code == 200
        cut.join()
        proxy.set("pass")
        # a table gone: the failing statement names its parameters (hidden)
        other = sa.create_engine(DATABASE_URL)
        with other.begin() as conn:
            conn.execute(sa.text("ALTER TABLE voice_calls RENAME TO voice_calls_away"))
        try:
            client.post(f"/webhooks/at/voice?token={TOKEN}",
                        data={**ring, "sessionId": "ATVId_leak2"})
        finally:
            with other.begin() as conn:
                conn.execute(sa.text("ALTER TABLE voice_calls_away RENAME TO voice_calls"))
            other.dispose()
        # bad tokens and invalid input
        client.post(f"/webhooks/at/ussd?token={TOKEN}x", data=hop)
        client.post(f"/webhooks/at/ussd?token={TOKEN}", data={**hop, "phoneNumber": "+2499"})
        client.post(f"/webhooks/at/voice?token={TOKEN}",
                    data={**ring, "callerNumber": PHONE + "999"})
        client.post("/staff/login", data={"email": EMAIL, "password": SECRET})
        client.get(f"/staff/queue?q={PHONE}&token={TOKEN}")
        # and a library that logs a number, an address and a URL with the token, by itself
        logging.getLogger("some.library").warning("calling %s for %s via %s?token=%s", PHONE,
                                                  EMAIL, "https://x", TOKEN)
    proxy.stop()
    text = everything_logged(caplog.records)
    assert "USSD hops answer 'unavailable'" in text or "voice notification" in text
    assert "+249 91* *** *78" in text  # masked, still useful to tell callers apart
    assert leaks(text) == [], text


def test_gunicorn_logs_and_access_log_carry_no_token_or_number(app):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=DATABASE_URL, HOTLINE_REDIS_URL=REDIS_URL,
               HOTLINE_SECRET_KEY=SECRET, HOTLINE_WEBHOOK_TOKEN=TOKEN, HOTLINE_ACCESS_LOG="-",
               HOTLINE_WEB_WORKERS="1", HOTLINE_SPOOL_DIR=overrides()["SPOOL_DIR"],
               PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.conf.py",
         "--bind", f"fd://{listener.fileno()}", "--log-level", "debug", "hotline:create_app()"],
        cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"

    def call(path: str, form: dict[str, str] | None = None) -> int:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with urllib.request.urlopen(base + path, data=data, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        for _ in range(100):
            try:
                if call("/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        hop = {"sessionId": "ATUid_g", "serviceCode": "*384*1234#", "phoneNumber": PHONE,
               "networkCode": "63401", "text": ""}
        assert call(f"/webhooks/at/ussd?token={TOKEN}", hop) == 200
        assert call(f"/webhooks/at/ussd?token={TOKEN[:-1]}", hop) == 403
        assert call(f"/staff/login?email={EMAIL}&next=/staff/{PHONE}") == 200
        # what the access log does print, the path, can carry anything a client typed
        assert call(f"/webhooks/at/{PHONE}/{EMAIL}/{TOKEN}?token={TOKEN}") in (403, 404)
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
        listener.close()
    assert '"POST /webhooks/at/ussd" 200' in output  # the access log was on
    assert leaks(output) == [], output
