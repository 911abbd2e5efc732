"""Africa's Talking through the official ``africastalking`` SDK (2.0.3).

The SDK's quirks, each handled here (reference/africastalking.md §3, §6, §7):

- success is per recipient (``Recipients[*].statusCode``), not the HTTP status;
- a 201 can carry an empty ``Recipients`` and ``Message: InvalidSenderId``;
- a content type other than exactly ``application/json`` makes the SDK return
  the body as a string, which may still be JSON;
- any non-2xx raises ``AfricasTalkingException(body)`` without the status code;
- transport errors from ``requests`` arrive unwrapped; a read timeout after the
  request went out is ambiguous (AT may have accepted it; SMS has no idempotency key);
- ``messageId`` may be the literal string ``"None"``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from africastalking.Service import DEFAULT_TIMEOUT_S, AfricasTalkingException
from africastalking.SMS import SMSService

from hotline.gateways import GatewayError, Outcome, Verdict

log = logging.getLogger(__name__)

ACCEPTED = {100, 101, 102}
RETRY = {401, 405, 500, 501, 502}
PERMANENT = {402, 403, 404, 406, 407, 409}
OPT_OUT = 406
# The status string when a recipient has no usable statusCode (older APIs, odd sandboxes).
BY_STATUS: dict[str, Verdict] = {
    "processed": "accepted", "sent": "accepted", "queued": "accepted", "success": "accepted",
    "riskhold": "retry", "insufficientbalance": "retry", "internalservererror": "retry",
    "gatewayerror": "retry", "rejectedbygateway": "retry",
}


KEEP_ALIVE_SECONDS = 2.0  # a kept-alive connection idle longer is not used again


class _SMS(SMSService):
    """The SDK's SMS service on another host (``_init_service`` is its designed hook),
    posting over a kept-alive connection.

    The SDK calls ``requests.post`` each time: a new connection per request (a new TLS
    handshake with the real gateway), and the proxy settings read again. This keeps a
    ``requests.Session`` per thread instead and hands back what the SDK's
    ``_make_request`` would, for the one call we make (a synchronous POST); anything
    else goes through the SDK unchanged.

    A connection idle longer than ``KEEP_ALIVE_SECONDS`` is closed first, not reused:
    a server may drop an idle connection just as a request is written to it, and that
    failure looks like a send that may have gone (ambiguous: bulk would not be retried).
    """

    def __init__(self, username: str, api_key: str, base_url: str | None) -> None:
        self._override = base_url.rstrip("/") if base_url else None
        self._local = threading.local()
        super().__init__(username, api_key)

    def _init_service(self) -> None:
        super()._init_service()
        if self._override:
            self._baseUrl = self._contentUrl = self._override + "/version1"

    def _session(self) -> requests.Session:
        local, now = self._local, time.monotonic()
        http: requests.Session | None = getattr(local, "http", None)
        if http is None or getattr(local, "pid", None) != os.getpid():
            http = local.http = requests.Session()  # a forked child never shares a socket
            local.pid = os.getpid()
        elif now - local.used > KEEP_ALIVE_SECONDS:
            http.close()  # its pooled connections; the session opens new ones
        local.used = now
        return http

    def _make_request(self, url: str, method: str, headers: dict, data: Any, params: Any,
                      callback: Any = None, timeout: Any = DEFAULT_TIMEOUT_S) -> Any:
        if callback is not None or method.upper() != "POST":
            return super()._make_request(url, method, headers, data, params, callback,
                                         timeout)
        res = self._session().post(url, headers=headers, params=params, data=data,
                                   timeout=timeout)
        self._local.used = time.monotonic()
        if 200 <= res.status_code < 300:  # the SDK's own reading of the answer
            return res.json() if res.headers.get("content-type") == "application/json" \
                else res.text
        raise AfricasTalkingException(res.text)


class AfricasTalkingGateway:
    name = "africastalking"

    def __init__(self, username: str, api_key: str, *, sender_id: str | None = None,
                 base_url: str | None = None,
                 timeout: tuple[float, float]) -> None:
        self.sms = _SMS(username, api_key, base_url)
        self.sender_id, self.timeout = sender_id, timeout

    def send(self, recipients: Sequence[str], body: str) -> list[Outcome]:
        try:
            answer = self.sms.send(body, list(recipients), sender_id=self.sender_id,
                                   timeout=self.timeout)
        except ValueError as exc:  # the SDK refused a number before sending anything
            raise GatewayError("permanent", "InvalidPhoneNumber", str(exc)) from None
        except requests.ConnectTimeout as exc:
            raise GatewayError("retry", "connect-timeout", type(exc).__name__) from None
        except requests.ReadTimeout as exc:
            raise GatewayError("ambiguous", "read-timeout", type(exc).__name__) from None
        except requests.ConnectionError as exc:
            raise _connection_error(exc) from None
        except requests.RequestException as exc:
            raise GatewayError("ambiguous", "request-error", type(exc).__name__) from None
        except AfricasTalkingException as exc:
            raise _refused(str(exc)) from None
        return classify(answer, recipients)


def _connection_error(exc: requests.ConnectionError) -> GatewayError:
    """Refused or unresolvable: nothing was sent. Reset mid-answer: it may have been."""
    text = repr(exc)
    if any(s in text for s in ("NewConnectionError", "Connection refused", "NameResolution",
                               "Failed to resolve")):
        return GatewayError("retry", "connection-error", "not connected")
    return GatewayError("ambiguous", "connection-lost", "connection lost after sending")


def _refused(body: str) -> GatewayError:
    """A non-2xx answer: AT did not take the request, so a retry cannot double it.

    The SDK keeps only the body. A JSON body naming a permanent per-recipient code
    (a 409 DoNotDisturb answer) is permanent; anything else (401 with bad
    credentials, 5xx) is retried with backoff until the attempts run out.
    """
    try:
        parsed = json.loads(body)
        codes = {int(r.get("statusCode", 0)) for r in
                 parsed["SMSMessageData"]["Recipients"]}
    except (ValueError, TypeError, KeyError, AttributeError):
        codes = set()
    if codes and codes <= PERMANENT:
        return GatewayError("permanent", str(min(codes)), "refused")
    return GatewayError("retry", "http-error", body[:120])


def classify(answer: Any, recipients: Sequence[str]) -> list[Outcome]:
    """One Outcome per recipient from a 2xx answer, whatever shape the SDK handed back."""
    if isinstance(answer, str | bytes):
        try:
            answer = json.loads(answer)
        except ValueError:
            # 2xx but unreadable: AT took the request, we cannot tell what it did.
            raise GatewayError("ambiguous", "unreadable-answer", str(answer)[:80]) from None
    data = answer.get("SMSMessageData") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise GatewayError("ambiguous", "unreadable-answer", "no SMSMessageData")
    listed = data.get("Recipients")
    message = str(data.get("Message") or "")
    if not listed:
        if "invalidsenderid" in message.replace(" ", "").lower():
            raise GatewayError("permanent", "InvalidSenderId", message)
        # Nothing listed as sent: no recipient was taken, so a retry cannot double one.
        raise GatewayError("retry", "no-recipients", message[:80])
    by_number: dict[str, dict] = {}
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and item.get("number"):
            by_number.setdefault(str(item["number"]), item)
    outcomes = []
    for number in recipients:
        item = by_number.get(number)
        if item is None:  # not in the answer although the request was taken
            outcomes.append(Outcome(number, "ambiguous", "not-listed"))
        else:
            outcomes.append(_recipient(number, item))
    return outcomes


def _recipient(number: str, item: dict) -> Outcome:
    status = str(item.get("status") or "")
    message_id = str(item.get("messageId") or "")
    message_id = None if message_id in ("", "None") else message_id[:100]
    try:
        code = int(item.get("statusCode"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        code = 0
    if code in ACCEPTED:
        verdict: Verdict = "accepted"
    elif code in RETRY:
        verdict = "retry"
    elif code in PERMANENT:
        verdict = "permanent"
    else:  # no usable code: the status string decides; unknown words are not retried
        verdict = BY_STATUS.get(status.replace(" ", "").lower(), "permanent")
    return Outcome(number, verdict, str(code) if code else (status[:40] or "unknown"),
                   message_id if verdict == "accepted" else None, opted_out=code == OPT_OUT)
