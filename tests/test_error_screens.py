"""Error screens speak the caller's language when we know it, fit the screen in every
language at once when we do not, and a 400 names the problem in plain words."""

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import Contact
from hotline.services.ussd import UssdService
from hotline.textcodec import measure
from tests.conftest import PHONE, TOKEN, UssdCaller

URL = f"/webhooks/at/ussd?token={TOKEN}"
TOO_LONG = "1*" * 300 + "1"


def text(app, lang, key):
    return app.extensions["hotline.catalog"].render(lang, key)


def both(app, key):
    return f"{text(app, 'ar', key)}\n{text(app, 'en', key)}"


def post(client, **fields):
    data = {"sessionId": "ATUid_err", "serviceCode": "*384*1234#", "phoneNumber": PHONE,
            "networkCode": "63401", "text": "", **fields}
    return client.post(URL, data=data).get_data(as_text=True)


@pytest.mark.parametrize("key", ["error.unavailable", "error.too_long", "error.busy"])
def test_both_languages_at_once_fit_one_ucs2_screen(app, key):
    cost = measure(both(app, key))
    assert cost.encoding == "UCS-2" and cost.units <= 70


def test_a_new_caller_gets_both_languages(app, client):
    assert post(client, text=TOO_LONG) == "END " + both(app, "error.too_long")
    assert post(client, serviceCode="*999#") == "END " + both(app, "error.unavailable")


@pytest.mark.parametrize(("choice", "lang"), [("1", "ar"), ("2", "en")])
def test_a_returning_caller_gets_their_language_only(app, client, choice, lang):
    caller = UssdCaller(client)
    caller.dial()
    caller.press(choice)
    assert db.session.scalars(select(Contact.language)).one() == lang
    assert post(client, sessionId="ATUid_new", text=TOO_LONG) == \
        "END " + text(app, lang, "error.too_long")
    assert post(client, sessionId="ATUid_other", serviceCode="*999#") == \
        "END " + text(app, lang, "error.unavailable")


@pytest.mark.parametrize(("choice", "lang"), [("1", "ar"), ("2", "en")])
def test_a_failing_hop_ends_in_the_language_of_the_session(app, client, monkeypatch, choice,
                                                           lang):
    caller = UssdCaller(client)
    caller.dial()
    caller.press(choice)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(UssdService, "_advance", broken)
    caller.press("1")
    assert caller.body == "END " + text(app, lang, "error.unavailable")
    assert "database" not in caller.body


@pytest.mark.parametrize(("body", "says"), [
    (b"sessionId=a&text=%FF%FE", "bad request: the body is not form-encoded UTF-8 text"),
    (b"sessionId=a&text=1%002", "bad request: the field text contains a NUL character"),
    (b"sessionId=a&" + b"&".join(b"f%d=1" % i for i in range(60)),
     "bad request: more than 50 fields"),
    (b"sessionId=a&text=" + b"1" * 4001, "bad request: the field text is longer than 4000"),
    (b"sessionId=a&%3Cscript%3E=" + b"1" * 4001, "bad request: a field is longer than 4000"),
])
def test_a_400_names_the_problem_in_plain_words(client, body, says):
    response = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
    reply = response.get_data(as_text=True)
    assert response.status_code == 400 and reply.startswith(says), reply
    for leak in ("codec", "Error", "byte 0x", "position", "<script>", "Traceback"):
        assert leak not in reply
