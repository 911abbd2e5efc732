"""Readiness names what is down; the USSD webhook keeps serving or ends cleanly."""

from tests.conftest import TOKEN

DOWN_DB = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
DOWN_REDIS = "redis://127.0.0.1:1/0"
HOP = {"sessionId": "ATUid_x", "serviceCode": "*384*1234#", "phoneNumber": "+249912345678",
       "networkCode": "63401", "text": ""}


def test_healthz_and_readyz_when_all_is_up(client):
    assert client.get("/healthz").json == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["status"] == "ok"


def test_readyz_names_the_database_when_it_is_down(make_app):
    app = make_app(DATABASE_URL=DOWN_DB)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["down"] == ["database"]


def test_readyz_names_redis_when_it_is_down(make_app):
    app = make_app(REDIS_URL=DOWN_REDIS)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["down"] == ["redis"]


def test_ussd_keeps_serving_from_the_database_when_redis_is_down(make_app):
    app = make_app(REDIS_URL=DOWN_REDIS)
    client = app.test_client()
    first = client.post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP).get_data(as_text=True)
    second = client.post(f"/webhooks/at/ussd?token={TOKEN}",
                         data={**HOP, "text": "2"}).get_data(as_text=True)
    assert first.startswith("CON ") and "English" in first
    assert second.startswith("CON ") and "Sorry" not in second and second != first


def test_ussd_answers_a_clean_end_when_the_database_is_down(make_app):
    app = make_app(DATABASE_URL=DOWN_DB)
    response = app.test_client().post(f"/webhooks/at/ussd?token={TOKEN}", data=HOP)
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("END ")
