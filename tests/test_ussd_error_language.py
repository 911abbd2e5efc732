"""Error screens: a returning caller whose number the gateway sends the local way still
reads them in their language; one whose language we do not know reads every language,
the deployment's default first. (``test_error_screens`` covers E.164 numbers and the
default configuration, where the default happens to sort first anyway.)

Written against issue 14's survivors of ``known_language`` and ``bilingual``.
"""

from __future__ import annotations

from tests.conftest import TOKEN, UssdCaller

TOO_LONG = "1*" * 300 + "1"
LOCAL = "0912345678"  # +249912345678 written the local way


def render(app, lang: str, key: str) -> str:
    return app.extensions["hotline.catalog"].render(lang, key)


def too_long(client, phone: str) -> str:
    response = client.post(f"/webhooks/at/ussd?token={TOKEN}", data={
        "sessionId": "ATUid_long", "serviceCode": "*384*1234#", "phoneNumber": phone,
        "networkCode": "63401", "text": TOO_LONG})
    return response.get_data(as_text=True)


def test_a_returning_caller_with_a_local_number_reads_errors_in_their_language(app, client):
    caller = UssdCaller(client, phone=LOCAL)
    caller.dial()
    caller.press("2")  # English, remembered for +249912345678
    assert too_long(client, LOCAL) == "END " + render(app, "en", "error.too_long")


def test_a_caller_of_unknown_language_reads_the_default_language_first(app, make_app):
    english = make_app(DEFAULT_LANGUAGE="en")  # ``app`` emptied the tables first
    with english.app_context():
        body = too_long(english.test_client(), "+249911000999")
    assert body == "END " + render(app, "en", "error.too_long") + "\n" + \
        render(app, "ar", "error.too_long")
