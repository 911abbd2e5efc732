"""Hostile, broken and odd USSD posts: a clean answer every time, never a 500."""

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import Contact, UssdSession, UssdSessionEnd
from tests.conftest import REDIS_URL, TOKEN, fresh_example

URL = f"/webhooks/at/ussd?token={TOKEN}"
GOOD = {"sessionId": "ATUid_bad", "serviceCode": "*384*1234#", "phoneNumber": "+249912345678",
        "networkCode": "63401", "text": ""}


def stored() -> int:
    client = redis.Redis.from_url(REDIS_URL)
    keys = len(client.keys("*"))
    client.close()
    rows = sum(db.session.scalar(select(func.count()).select_from(m))
               for m in (Contact, UssdSession, UssdSessionEnd))
    return keys + rows


@pytest.mark.parametrize("path", ["/webhooks/at/ussd", "/webhooks/at/ussd/events"])
@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x", TOKEN[:-1], "%00"])
def test_wrong_or_missing_token_is_403_and_stores_nothing(client, path, token):
    query = "" if token is None else f"?token={token}"
    response = client.post(path + query, data={**GOOD, "status": "Success"})
    assert response.status_code == 403
    assert stored() == 0


@pytest.mark.parametrize("query", [f"token={TOKEN}&token=wrong", f"a=1&token={TOKEN}",
                                   f"token={TOKEN}&a=1", f"token=%{ord(TOKEN[0]):02X}{TOKEN[1:]}"])
def test_the_token_is_found_among_other_parameters_and_encoded(client, query):
    """The token compared as the query string arrived is a short cut for the gateway's
    URL only: any other query string is parsed, and its first token must match."""
    response = client.post(f"/webhooks/at/ussd?{query}", data=GOOD)
    assert response.status_code == 200
    wrong = query.replace(TOKEN[1:], TOKEN[1:-1] + "x", 1)
    assert client.post(f"/webhooks/at/ussd?{wrong}", data=GOOD).status_code == 403


@pytest.mark.parametrize("missing", ["sessionId", "serviceCode", "phoneNumber", "text"])
def test_missing_field_is_a_400(client, missing):
    data = {k: v for k, v in GOOD.items() if k != missing}
    response = client.post(URL, data=data)
    assert response.status_code == 400
    assert missing in response.get_data(as_text=True)
    assert stored() == 0


def test_non_utf8_body_is_a_400(client):
    response = client.post(URL, data=b"sessionId=a&serviceCode=*384*1234%23"
                           b"&phoneNumber=%2B249912345678"
                           b"&text=%FF%FE", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and stored() == 0


def test_oversized_body_is_refused_cleanly(client):
    response = client.post(URL, data={**GOOD, "text": "1*" * 200_000})
    assert response.status_code == 413
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("text", ["1*" * 300 + "1", "9" * 3000])
def test_hundreds_of_hops_or_a_huge_text_end_cleanly_in_both_languages(client, text):
    body = client.post(URL, data={**GOOD, "text": text}).get_data(as_text=True)
    assert body.startswith("END ") and "Start again" in body and "الجلسة" in body


@pytest.mark.parametrize("field,value", [("serviceCode", "*999#"), ("phoneNumber", "12"),
                                         ("phoneNumber", "+24991234567890123"),
                                         ("phoneNumber", "' OR 1=1 --")])
def test_unknown_service_code_or_invalid_phone_end_cleanly(client, field, value):
    body = client.post(URL, data={**GOOD, field: value}).get_data(as_text=True)
    assert body.startswith("END ") and "Sorry" in body and "عذرا" in body
    assert stored() == 0


@pytest.mark.parametrize("hostile", ["'; DROP TABLE contacts; --", "<script>alert(1)</script>",
                                     "\u202eabc", "١' OR '1'='1", "\x07\x1b[31m"])
def test_hostile_inputs_are_just_invalid_choices(client, hostile):
    client.post(URL, data=GOOD)
    response = client.post(URL, data={**GOOD, "text": "2*" + hostile})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.startswith("CON Invalid choice.")
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1


def test_get_is_refused_cleanly(client):
    response = client.get(URL)
    assert response.status_code == 405
    assert "Traceback" not in response.get_data(as_text=True)


def test_events_without_session_or_status_are_400(client):
    assert client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data={}).status_code == 400
    response = client.post(f"/webhooks/at/ussd/events?token={TOKEN}",
                           data={"sessionId": "x", "status": "Failed", "hopsCount": "9" * 40})
    assert response.status_code == 200  # an absurd number is dropped, not a crash
    assert db.session.scalars(select(UssdSessionEnd.hops_count)).one() is None


fields = st.dictionaries(
    st.sampled_from(["sessionId", "serviceCode", "phoneNumber", "networkCode", "text", "x"]),
    st.one_of(st.text(max_size=300), st.sampled_from(["", "+249912345678", "*384*1234#",
                                                      "1*2*98*0*00", "٢*١"])),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fields)
def test_arbitrary_form_data_never_500s(client, data):
    fresh_example(client.application)
    for path in ("/webhooks/at/ussd", "/webhooks/at/ussd/events"):
        response = client.post(f"{path}?token={TOKEN}", data=data)
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        body = response.get_data(as_text=True)
        assert "Traceback" not in body
        if path.endswith("ussd") and response.status_code == 200:
            assert body.startswith(("CON ", "END "))
    assert client.get("/healthz").status_code == 200
