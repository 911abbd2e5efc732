"""Africa's Talking webhooks (its docs call them callbacks; here a "callback" is always a
callback request): token check, strict form parsing, wire formats.

Every route here requires ``?token=`` equal to ``HOTLINE_WEBHOOK_TOKEN``; a wrong
or missing token gets 403 before anything is parsed or stored.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, current_app, request

from hotline.errors import HotlineError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/at")

MAX_FIELD = 4000
MAX_FIELDS = 50
# The answers both ways into a webhook give (Flask's, and hotline.webhooks.ussd.DirectHops)
FORBIDDEN = "forbidden\n"  # 403
TOO_LARGE = "request body too large\n"  # 413


class BadForm(HotlineError):
    """The body is not the form-encoded UTF-8 the gateway sends; the message names the
    problem in plain words (never an exception's text) for the 400 reply."""


@bp.before_request
def require_token() -> None:
    if not token_ok(request.query_string, current_app.config["WEBHOOK_TOKEN"]):
        abort(plain(FORBIDDEN, 403))


def token_ok(query_string: bytes, expected: str) -> bool:
    """Whether the query string carries ``token=`` equal to ``expected`` (never when none
    is configured), compared in constant time."""
    if not expected:
        return False
    # The gateway's URL carries the token alone: compared as it arrived, without parsing
    # the query string (a hop's commonest case); any other query string is parsed.
    if hmac.compare_digest(query_string, b"token=" + expected.encode()):
        return True
    args: dict[str, str] = {}
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True,
                                encoding="utf-8", errors="replace"):
        args.setdefault(key, value)  # the first, as Flask's request.args.get gives
    return hmac.compare_digest(args.get("token", "").encode(), expected.encode())


def form_fields() -> dict[str, str]:
    """The posted fields, decoded strictly: a non-UTF-8 body is refused, not guessed at."""
    body = read_body(request.environ, current_app.config["MAX_CONTENT_LENGTH"])
    if body is None:
        abort(plain(TOO_LARGE, 413))
    return read_form(body)


def read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body: ``Content-Length`` bytes, or to the end of a chunked one (the
    server ends it), or none without either, as werkzeug reads it; but None when it is
    longer than ``limit``, where werkzeug would cut a chunked one short without a word."""
    stream = environ["wsgi.input"]
    try:
        length: int | None = max(0, int(environ.get("CONTENT_LENGTH") or ""))
    except ValueError:
        length = None
    if length is None:
        if not environ.get("wsgi.input_terminated"):
            return b""
        body = stream.read(limit + 1)
        return None if len(body) > limit else body
    return None if length > limit else stream.read(length)


def read_form(body: bytes) -> dict[str, str]:
    """``form_fields`` once the body is read: the first value of each field; ``BadForm``
    for anything the gateway would not send."""
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                          errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise BadForm("the body is not form-encoded UTF-8 text") from None
    except ValueError:  # parse_qsl's only other complaint: too many fields
        raise BadForm(f"more than {MAX_FIELDS} fields") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if len(value) > MAX_FIELD:
            raise BadForm(f"{_name(key)} is longer than {MAX_FIELD} characters")
        if "\x00" in value:
            raise BadForm(f"{_name(key)} contains a NUL character")
        fields.setdefault(key, value)
    return fields


def _name(key: str) -> str:
    """A field as a 400 reply names it: a plain name is quoted, anything else is not."""
    return f"the field {key}" if key.isascii() and key.isidentifier() and len(key) <= 40 \
        else "a field"


def plain(text: str, status: int = 200) -> Response:
    return Response(text, status, mimetype="text/plain")


@bp.errorhandler(BadForm)
def bad_form(exc: BadForm) -> Response:
    return plain(refusal(exc), 400)


def refusal(exc: BadForm) -> str:
    """The 400 answer's text for a body ``read_form`` refused."""
    return f"bad request: {exc}\n"


from hotline.webhooks import ussd  # noqa: E402,F401,I001  (routes register on bp)
from hotline.webhooks import voice  # noqa: E402,F401,I001  (routes register on bp)
from hotline.webhooks import sms  # noqa: E402,F401,I001  (routes register on bp)
from hotline.webhooks import sms_delivery  # noqa: E402,F401,I001  (routes register on bp)
