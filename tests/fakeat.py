"""A fake Africa's Talking SMS API: a real HTTP server on 127.0.0.1, ephemeral port.

It speaks the wire format the ``africastalking`` 2.0.3 SDK uses
(reference/africastalking.md §3, §6): ``POST /version1/messaging`` with form
fields ``username, to, message, bulkSMSMode[, from]`` and an ``apiKey`` header,
answered with HTTP 201, ``Content-Type: application/json`` exactly, and
``SMSMessageData.Recipients`` carrying a ``statusCode`` and ``messageId`` per
recipient. Failure modes switch at run time; ``accepted`` counts every message
it accepted, per recipient, which is what the fault tests compare.

Run alone (``python -m tests.fakeat``) it prints its URL on the first line and serves
until interrupted; ``GET /_fake/log`` returns every request it saw (the benchmark
reads it from another process), ``DELETE /_fake/log`` forgets them.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

STATUS = {100: "Processed", 101: "Success", 102: "Queued", 401: "RiskHold",
          402: "InvalidSenderId", 403: "InvalidPhoneNumber", 404: "UnsupportedNumberType",
          405: "InsufficientBalance", 406: "UserInBlacklist", 407: "CouldNotRoute",
          409: "DoNotDisturbRejection", 500: "InternalServerError", 501: "GatewayError",
          502: "RejectedByGateway"}
MODES = ("ok", "http401", "http500", "slow", "invalid_sender", "charset", "not_json", "flaky")


@dataclass
class Request:
    """One request as the fake saw it."""

    at: float
    recipients: list[str]
    message: str
    sender: str | None
    api_key: str
    username: str
    port: int = 0  # the client's port: requests on one kept-alive connection share it


@dataclass
class FakeAT:
    """Switch ``mode`` (see MODES), ``codes`` (number -> statusCode) and ``flaky_rate``."""

    api_key: str = "fake-key"
    mode: str = "ok"
    codes: dict[str, int] = field(default_factory=dict)
    slow_seconds: float = 2.0
    flaky_rate: float = 0.3
    seed: int = 7
    accepted: Counter = field(default_factory=Counter)
    requests: list[Request] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        self._ids = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: with Nagle on, the body of an answer on a
            # kept-alive connection waits for the client's delayed ACK (40 ms), which no
            # real gateway does.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path != "/_fake/log":
                    return fake._reply(self, 404, "text/plain", "Not Found")
                fake._reply(self, 200, "application/json", json.dumps(fake.log()))

            def do_DELETE(self) -> None:  # noqa: N802
                if self.path != "/_fake/log":
                    return fake._reply(self, 404, "text/plain", "Not Found")
                fake.forget()
                fake._reply(self, 200, "application/json", "{}")

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                fake._handle(self, self.path, dict(self.headers), body,
                             self.client_address[1])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)

    # --- life cycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """What ``HOTLINE_AT_BASE_URL`` is set to (the SDK adds ``/version1``)."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeAT:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FakeAT:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def total(self) -> int:
        with self._lock:
            return sum(self.accepted.values())

    def log(self) -> dict:
        """What another process may ask for (``GET /_fake/log``): every request seen."""
        with self._lock:
            return {"accepted": sum(self.accepted.values()), "refused": self.refused,
                    "requests": [{"at": r.at, "recipients": r.recipients, "message": r.message}
                                 for r in self.requests]}

    def forget(self) -> None:
        with self._lock:
            self.accepted.clear()
            self.requests.clear()
            self.refused = 0

    # --- the API ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, path: str, headers: dict,
                body: str, port: int = 0) -> None:
        if path != "/version1/messaging":
            return self._reply(handler, 404, "text/plain", "Not Found")
        if headers.get("apiKey") != self.api_key:
            return self._reply(handler, 401, "text/plain", "The supplied authentication is "
                               "invalid")
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        recipients = [n for n in form.get("to", "").split(",") if n]
        if not recipients or "message" not in form or "username" not in form:
            return self._reply(handler, 400, "text/plain", "Missing required fields")
        with self._lock:
            mode = self.mode
            flaky = mode == "flaky" and self._random.random() < self.flaky_rate
            self.requests.append(Request(time.time(), recipients, form["message"],
                                         form.get("from"), headers.get("apiKey", ""),
                                         form["username"], port))
        if mode == "http401":
            return self._reply(handler, 401, "text/plain", "The supplied authentication is "
                               "invalid")
        if mode == "http500" or flaky:
            with self._lock:
                self.refused += 1
            return self._reply(handler, 500, "text/plain", "Internal Server Error")
        if mode == "invalid_sender":
            return self._json(handler, {"SMSMessageData": {"Message": "InvalidSenderId",
                                                           "Recipients": []}})
        listed = [self._recipient(number) for number in recipients]
        if mode == "slow":  # accepted, then answered too late: the ambiguous case
            time.sleep(self.slow_seconds)
        sent = sum(1 for r in listed if r["statusCode"] in (100, 101, 102))
        answer = {"SMSMessageData": {
            "Message": f"Sent to {sent}/{len(listed)} Total Cost: SDG 0.0000 Message parts: 1",
            "Recipients": listed}}
        if mode == "charset":
            return self._reply(handler, 201, "application/json; charset=utf-8",
                               json.dumps(answer))
        if mode == "not_json":
            return self._reply(handler, 201, "text/html", "<html>accepted</html>")
        return self._json(handler, answer)

    def _recipient(self, number: str) -> dict:
        code = self.codes.get(number, 101)
        with self._lock:
            if code in (100, 101, 102):
                self.accepted[number] += 1
                self._ids += 1
                message_id = f"ATXid_{self._ids:08d}"
            else:
                message_id = "None"
        return {"statusCode": code, "number": number, "status": STATUS.get(code, "Failed"),
                "cost": "SDG 0.0000" if code < 400 else "0", "messageId": message_id}

    def _json(self, handler: BaseHTTPRequestHandler, answer: dict) -> None:
        self._reply(handler, 201, "application/json", json.dumps(answer))

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, content_type: str,
               text: str) -> None:
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass


if __name__ == "__main__":
    with FakeAT() as fake:
        # The first line is what a benchmark reads to find it.
        print(fake.url, flush=True)
        print(f"fake Africa's Talking at {fake.url}/version1/messaging (apiKey {fake.api_key}); "
              f"GET/DELETE {fake.url}/_fake/log", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
