"""``POST /webhooks/at/ussd`` and ``/webhooks/at/ussd/events``.

A hop comes in two ways that run the same steps: the Flask view, and ``DirectHops``, a
WSGI wrapper that answers hops without Flask's request machinery (see there).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, current_app
from werkzeug.http import HTTP_STATUS_CODES

from hotline import admission, deadline
from hotline.errors import INTERNAL_ERROR
from hotline.services.ussd import UssdHop, UssdService, record_end
from hotline.webhooks import (
    FORBIDDEN,
    TOO_LARGE,
    BadForm,
    bp,
    form_fields,
    plain,
    read_body,
    read_form,
    refusal,
    token_ok,
)

log = logging.getLogger(__name__)

HOP_FIELDS = ("sessionId", "serviceCode", "phoneNumber")


@bp.post("/ussd")
def ussd() -> Response:
    status, text = answer(form_fields(), current_app.extensions["hotline.ussd"])
    return plain(text, status)


def answer(fields: Mapping[str, str], service: UssdService) -> tuple[int, str]:
    """The HTTP status and text for a hop's fields."""
    missing = [f for f in HOP_FIELDS if not fields.get(f, "").strip()]
    if missing or "text" not in fields:
        return 400, f"bad request: missing {', '.join(missing or ['text'])}\n"
    hop = UssdHop(session_id=fields["sessionId"][:100], service_code=fields["serviceCode"],
                  phone=fields["phoneNumber"], network_code=fields.get("networkCode", "")[:10],
                  text=fields["text"])
    # Never raises: a failure is a clean END in the caller's language, and a hop that
    # waited too long for a thread is answered "busy" (hotline.admission).
    reply = service.handle(hop, admission.waited())
    return 200, ("END " if reply.end else "CON ") + reply.text


@bp.post("/ussd/events")
def ussd_events() -> Response:
    fields = form_fields()
    if not fields.get("sessionId", "").strip() or not fields.get("status", "").strip():
        return plain("bad request: sessionId and status are required\n", 400)
    if len(fields["sessionId"]) > 100:  # the column's width; no gateway id is that long
        return plain("bad request: sessionId is too long\n", 400)
    service = current_app.extensions["hotline.ussd"]
    record_end(fields, current_app.config["DEFAULT_REGION"],
               private=service.is_private(fields))
    return plain("ok\n")


StartResponse = Callable[..., Any]


class DirectHops:
    """Answers ``POST`` hops to the USSD view's URL before Flask sees them; passes every
    other request to Flask.

    Flask's request context, request and response objects and per-request hooks cost
    about 430,000 of a hop's 1.54 million instructions in ``tests/bench/ussd_hops.py``'s
    hop mix, half of what the redis-only floor's whole hop costs
    (``tests/bench/ussd_instructions.py``), on the URL the gateway calls hundreds of
    times a second. This runs the steps the view and its hooks run,
    with the same functions: the request's deadline, the webhook token, the body limit,
    the strict form, the service; and gives the same answers (403, 413, 400, 200, and
    500 for a bug). It runs in an app context, like a request, so the database session
    is removed after the hop. The URL is taken from Flask's URL map, so the route
    stays declared in one place. Security headers are added outside, as for every
    response (``hotline.app.SecurityHeaders``).
    """

    def __init__(self, app: Flask, wsgi_app: Callable[[dict[str, Any], StartResponse],
                                                      Iterable[bytes]]) -> None:
        self.app, self.wsgi_app = app, wsgi_app
        self.paths = {rule.rule for rule in app.url_map.iter_rules(f"{bp.name}.{ussd.__name__}")}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse
                 ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") not in self.paths:
            return self.wsgi_app(environ, start_response)
        with self.app.app_context():
            status, text = self.hop(environ)
        body = text.encode()
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}",
                       [("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(body)))])
        return [body]

    def hop(self, environ: dict[str, Any]) -> tuple[int, str]:
        config = self.app.config
        self.app.extensions["hotline.start_deadline"](
            environ.get("PATH_INFO", ""), "HTTP_X_FORWARDED_FOR" in environ)
        try:
            if not token_ok(environ.get("QUERY_STRING", "").encode("latin-1"),
                            config["WEBHOOK_TOKEN"]):
                return 403, FORBIDDEN
            body = read_body(environ, config["MAX_CONTENT_LENGTH"])
            if body is None:
                return 413, TOO_LARGE
            return answer(read_form(body), self.app.extensions["hotline.ussd"])
        except BadForm as exc:
            return 400, refusal(exc)
        except Exception:  # as the app's handler of anything unexpected answers (the
            # database session is rolled back as the app context ends)
            log.exception("unexpected error on POST %s", environ.get("PATH_INFO", ""))
            return 500, INTERNAL_ERROR
        finally:
            deadline.finish(None)
