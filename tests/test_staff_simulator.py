""""Try the service": the real flows in both languages, with budgets shown, storing nothing."""

import pytest
from sqlalchemy import func, select

from hotline.extensions import db
from hotline.models import CallbackRequest, Contact, UssdSession
from hotline.staff.simulator import SAMPLE_VARS
from tests.conftest import UssdCaller
from tests.staffkit import Staff, make_user, quick_hashing, text_of


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def ana(app):
    make_user("ana@example.org")
    return Staff(app, "ana@example.org")


class Phone:
    """The page's script: JSON posts with the CSRF token in a header."""

    def __init__(self, staff: Staff) -> None:
        self.staff = staff
        page = staff.html("/staff/try")
        self.token = page.split('data-csrf="')[1].split('"')[0]

    def send(self, body: object, token: str | None = "page") -> object:
        headers = {} if token is None else {"X-CSRFToken": self.token if token == "page"
                                            else token}
        return self.staff.client.post("/staff/try/step", json=body, headers=headers)

    def dial(self, lang: str = "", network: str = "") -> dict:
        response = self.send({"dial": True, "lang": lang, "network": network})
        assert response.status_code == 200, text_of(response)
        return response.get_json()

    def press(self, *keys: str) -> dict:
        for key in keys:
            response = self.send({"input": key})
            assert response.status_code == 200, text_of(response)
        return response.get_json()


def stored() -> int:
    return sum(db.session.scalar(select(func.count()).select_from(model))
               for model in (CallbackRequest, Contact, UssdSession))


def test_the_page_is_a_labelled_preview_with_a_phone(app, ana):
    page = ana.html("/staff/try")
    assert "Preview" in page and "Nothing is stored or sent" in page
    assert 'aria-label="Phone preview"' in page and "/staff/static/simulator.js" in page
    assert 'value="ar"' in page and 'value="en"' in page


def test_a_new_caller_sees_the_language_screen_in_both_languages(app, ana):
    screen = Phone(ana).dial()
    assert "Choose language" in screen["text"] and "اختر اللغة" in screen["text"]
    assert screen["encoding"] == "UCS-2" and screen["limit"] == 70
    assert screen["units"] <= screen["limit"] and screen["over"] is False
    assert screen["end"] is False and screen["dir"] == "auto"


def test_arabic_screens_are_right_to_left_and_counted_as_ucs2(app, ana):
    phone = Phone(ana)
    screen = phone.dial()
    screen = phone.press("1")  # العربية
    assert screen["lang"] == "ar" and screen["dir"] == "rtl"
    assert screen["encoding"] == "UCS-2" and screen["units"] <= 70
    assert "اتصلوا بي" in screen["text"]


def test_english_screens_are_gsm7_with_their_own_budget(app, ana):
    screen = Phone(ana).dial("en")
    assert screen["lang"] == "en" and screen["dir"] == "ltr"
    assert screen["encoding"] == "GSM-7" and screen["limit"] == 160
    assert screen["units"] == len(screen["text"])
    assert "Request a call" in screen["text"]


def test_the_whole_callback_flow_runs_but_stores_nothing(app, ana):
    phone = Phone(ana)
    menu = phone.dial("en")["text"].splitlines()
    choice = next(line.split(".")[0] for line in menu if "Request a call" in line)
    end = phone.press(choice, "1", "1", "1", "1")  # danger, any time, SMS yes, send
    assert end["end"] is True
    assert SAMPLE_VARS["ref"] in end["text"] and SAMPLE_VARS["until"] in end["text"]
    assert stored() == 0
    response = phone.send({"input": "1"})
    assert response.status_code == 409 and "dial again" in response.get_json()["error"]


def test_the_preview_matches_what_a_real_caller_reads(app, client, ana):
    phone = Phone(ana)
    preview = [phone.dial("ar")["text"], phone.press("2")["text"], phone.press("98")["text"],
               phone.press("0")["text"]]
    caller = UssdCaller(client)
    caller.dial()
    real = [caller.press("1"), caller.press("2"), caller.press("98"), caller.press("0")]
    assert preview[1:] == real[1:]
    assert real[0].startswith(preview[0])  # the real one came from the language screen: "0 Back"


@pytest.mark.parametrize("hostile", ["<script>alert(1)</script>", "'; DROP TABLE contacts; --",
                                     "\u202e1", "٢", "", " ", "9" * 182])
def test_any_input_is_just_a_key_press(app, ana, hostile):
    phone = Phone(ana)
    phone.dial("en")
    screen = phone.press(hostile)
    assert isinstance(screen["text"], str) and stored() == 0


@pytest.mark.parametrize("body,status,message", [
    ({"input": "9" * 183}, 400, "at most 182"),
    ({"input": 5}, 400, "Input must be text"),
    ({"input": "a\x00b"}, 400, "Input must be text"),
    ({"dial": True, "lang": "fr"}, 400, "Unknown language"),
    ({"dial": True, "network": "99999"}, 400, "Unknown network"),
    ([1, 2], 400, "JSON object"),
    ("just text", 400, "JSON object"),
])
def test_bad_requests_get_a_clear_json_error(app, ana, body, status, message):
    phone = Phone(ana)
    phone.dial()
    response = phone.send(body)
    assert response.status_code == status and message in response.get_json()["error"]


def test_input_before_dialling_is_refused(app, ana):
    response = Phone(ana).send({"input": "1"})
    assert response.status_code == 409 and "Dial first" in response.get_json()["error"]


def test_not_json_or_too_big_is_refused(app, ana):
    phone = Phone(ana)
    response = ana.client.post("/staff/try/step", data=b"{not json",
                               headers={"X-CSRFToken": phone.token,
                                        "Content-Type": "application/json"})
    assert response.status_code == 400
    response = ana.client.post("/staff/try/step", data=b"x" * 300_000,
                               headers={"X-CSRFToken": phone.token,
                                        "Content-Type": "application/json"})
    assert response.status_code == 413 and response.is_json


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_the_step_endpoint_needs_the_csrf_header(app, ana, token):
    response = Phone(ana).send({"dial": True}, token=token)
    assert response.status_code == 400 and response.is_json


def test_a_long_session_ends_cleanly(app, make_app, ana):
    app.config["USSD"] = {**app.config["USSD"], "max_hops": 3}
    phone = Phone(ana)
    phone.dial("en")
    phone.press("98", "0", "98")
    end = phone.press("0")
    assert end["end"] is True and "too long" in end["text"]
