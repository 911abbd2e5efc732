"""Africa's Talking webhooks (its docs call them callbacks; here a "callback" is always a
callback request): token check, strict form parsing, wire formats.

Every route here requires ``?token=`` equal to ``HOTLINE_WEBHOOK_TOKEN``; a wrong
or missing token gets 403 before anything is parsed or stored.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, current_app, request

from hotline.errors import HotlineError

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks/at")

MAX_FIELD = 4000
MAX_FIELDS = 50


class BadForm(HotlineError):
    """The body is not the form-encoded UTF-8 the gateway sends; the message names the
    problem in plain words (never an exception's text) for the 400 reply."""


@bp.before_request
def require_token() -> None:
    expected = current_app.config["WEBHOOK_TOKEN"]
    if not expected:
        abort(Response("forbidden\n", 403, mimetype="text/plain"))
    # The gateway's URL carries the token alone: compared as it arrived, without parsing
    # the query string (a hop's commonest case); any other query string is parsed.
    if hmac.compare_digest(request.query_string, b"token=" + expected.encode()):
        return
    given = request.args.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        abort(Response("forbidden\n", 403, mimetype="text/plain"))


def form_fields() -> dict[str, str]:
    """The posted fields, decoded strictly: a non-UTF-8 body is refused, not guessed at."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if (request.content_length or 0) > limit:
        abort(plain("request body too large\n", 413))
    body = request.get_data(cache=True)
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
    return plain(f"bad request: {exc}\n", 400)


from hotline.webhooks import ussd  # noqa: E402,F401,I001  (routes register on bp)
from hotline.webhooks import voice  # noqa: E402,F401,I001  (routes register on bp)
from hotline.webhooks import sms  # noqa: E402,F401,I001  (routes register on bp)
from hotline.webhooks import sms_delivery  # noqa: E402,F401,I001  (routes register on bp)
