"""POST /webhooks/at/sms: stored once per id, committed before 200, 503 when it cannot be."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.extensions import db
from hotline.models import Contact, InboundSms, OutboxMessage
from tests.conftest import DATABASE_URL, PHONE, TOKEN
from tests.smskit import Texter
from tests.test_health import DOWN_DB

URL = f"/webhooks/at/sms?token={TOKEN}"
GOOD = {"from": PHONE, "to": "12345", "text": "HELP", "date": "2026-11-29 10:00:00",
        "id": "ATXid_good", "linkId": "", "networkCode": "63401"}


def counts() -> tuple[int, int]:
    db.session.expire_all()
    return (db.session.query(InboundSms).count(), db.session.query(OutboxMessage).count())


def test_a_text_is_committed_before_the_200(client):
    assert client.post(URL, data=GOOD).status_code == 200
    engine = sa.create_engine(DATABASE_URL)  # another connection sees it: committed
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT text, network_code, kind FROM inbound_sms "
                                   "WHERE provider_id = 'ATXid_good'")).one()
    engine.dispose()
    assert tuple(row) == ("HELP", "63401", "keyword")


def test_a_repeated_delivery_is_a_no_op_answering_200(client):
    for _ in range(3):
        response = client.post(URL, data=GOOD)
        assert response.status_code == 200
    assert counts() == (1, 1)  # one text, one reply
    assert "already" in response.get_data(as_text=True)


def test_the_same_id_with_other_fields_changes_nothing(client):
    client.post(URL, data=GOOD)
    client.post(URL, data={**GOOD, "text": "INFO", "from": "+249911111111"})
    assert counts() == (1, 1)
    assert db.session.scalars(sa.select(InboundSms.text)).one() == "HELP"


def test_database_down_is_a_503_so_the_gateway_retries(make_app):
    app = make_app(DATABASE_URL=DOWN_DB)
    response = app.test_client().post(URL, data=GOOD)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_text_whose_handling_fails_is_kept_for_staff(app, client, monkeypatch):
    service = app.extensions["hotline.sms"]

    def broken(row_id):
        raise RuntimeError("handling broke")

    monkeypatch.setattr(service, "handle", broken)
    assert client.post(URL, data=GOOD).status_code == 200
    row = db.session.scalars(sa.select(InboundSms)).one()
    assert (row.kind, row.status, row.text) == ("received", "new", "HELP")


@pytest.mark.parametrize("missing", ["from", "to", "id", "text"])
def test_a_missing_field_is_a_400_and_stores_nothing(client, missing):
    data = {k: v for k, v in GOOD.items() if k != missing}
    response = client.post(URL, data=data)
    assert response.status_code == 400 and missing in response.get_data(as_text=True)
    assert counts() == (0, 0)


@pytest.mark.parametrize("sender", ["hello", "+1", "12", "+2499123456789999", "<script>",
                                    "' OR 1=1 --", "+249 91 234"])
def test_an_invalid_sender_is_a_400_and_stores_nothing(client, sender):
    response = client.post(URL, data={**GOOD, "from": sender})
    assert response.status_code == 400 and "from" in response.get_data(as_text=True)
    assert counts() == (0, 0)
    assert db.session.query(Contact).count() == 0


def test_a_10000_character_text_is_a_400_and_stores_nothing(client):
    response = client.post(URL, data={**GOOD, "text": "x" * 10_000})
    assert response.status_code == 400
    assert counts() == (0, 0)


def test_a_long_but_real_concatenated_text_is_stored_whole(client):
    text = "ب" * 670  # ten UCS-2 parts
    assert client.post(URL, data={**GOOD, "text": text}).status_code == 200
    assert db.session.scalars(sa.select(InboundSms.text)).one() == text


def test_non_utf8_is_a_400_and_stores_nothing(client):
    response = client.post(URL, data=b"from=%2B249912345678&to=12345&id=x1&text=%FF%FE",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and counts() == (0, 0)


def test_an_overlong_id_is_a_400(client):
    assert client.post(URL, data={**GOOD, "id": "x" * 101}).status_code == 400
    assert counts() == (0, 0)


@pytest.mark.parametrize("token", ["", "wrong"])
def test_a_wrong_token_is_a_403_and_stores_nothing(client, token):
    response = client.post(f"/webhooks/at/sms?token={token}", data=GOOD)
    assert response.status_code == 403 and counts() == (0, 0)


def test_hostile_text_is_stored_as_written_and_goes_to_staff(client):
    hostile = "<script>alert(1)</script>'; DROP TABLE contacts; --"
    assert Texter(client).send(hostile) == 200
    row = db.session.scalars(sa.select(InboundSms)).one()
    assert (row.text, row.kind, row.status) == (hostile, "staff", "new")


def test_an_empty_text_goes_to_staff_with_the_bilingual_help(client):
    texter = Texter(client)
    reply = texter.say("")
    assert reply is not None and "HELP" in reply and "مساعدة" in reply


fields = st.dictionaries(
    st.sampled_from(["from", "to", "text", "id", "date", "linkId", "networkCode", "x"]),
    st.one_of(st.text(max_size=300), st.sampled_from(["", PHONE, "HELP", "غ", "٣", "CALL"])),
)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fields)
def test_arbitrary_form_data_never_500s(client, data):
    response = client.post(URL, data=data)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_redis_down_still_stores_and_answers_the_text(app, make_app):
    from tests.test_health import DOWN_REDIS

    down = make_app(REDIS_URL=DOWN_REDIS)  # ``app`` emptied the tables first
    with down.app_context():
        response = down.test_client().post(URL, data={**GOOD, "id": "ATXid_redis_down"})
        assert response.status_code == 200
        row = db.session.scalars(sa.select(InboundSms).where(
            InboundSms.provider_id == "ATXid_redis_down")).one()
        assert (row.text, row.kind) == ("HELP", "keyword")  # keywords need no Redis
        key = f"sms-reply:{row.id}"
        assert db.session.query(OutboxMessage).filter_by(idempotency_key=key).count() == 1
        db.session.remove()
