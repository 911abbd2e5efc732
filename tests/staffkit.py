"""Helpers for the staff dashboard tests: accounts, requests, and a client that signs in
and sends forms the way a browser does (the CSRF token read from the rendered page)."""

from __future__ import annotations

import re
from datetime import datetime

from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from hotline.models import StaffUser
from hotline.services import caller_requests
from hotline.staff import passwords, users

PASSWORD = "correct horse battery staple"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
EN_PHONE = "+249912345678"
AR_PHONE = "+249123456789"


def quick_hashing(monkeypatch) -> None:
    """Real argon2id with small costs, so a test signing in ten times takes no seconds.

    ``test_staff_auth`` checks the production parameters and the upgrade from these.
    """
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                             parallelism=1))
    passwords._dummy_hash.cache_clear()


def make_user(email: str, role: str = "agent", name: str = "") -> StaffUser:
    return users.create(email, role, name or email.split("@")[0].title(), PASSWORD).user


def make_request(phone: str = EN_PHONE, reason: str = "medical", language: str = "en",
                 safe: str = "yes", times: str = "", sms_ok: bool = False,
                 now: datetime | None = None) -> int:
    """A callback request through the service layer, as the USSD action stores it."""
    return caller_requests.submit(phone, reason=reason, safe_to_call=safe, safe_times=times,
                                  sms_ok=sms_ok, language=language, now=now).request_id


class Staff:
    """One signed-in browser: its own cookie jar, forms posted with the page's token."""

    def __init__(self, app: Flask, email: str, password: str = PASSWORD) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()
        self.email = email
        self.id = users.find(email).id
        response = self.sign_in(password)
        assert response.status_code == 303, response.get_data(as_text=True)

    def sign_in(self, password: str = PASSWORD, next_url: str | None = None) -> TestResponse:
        token = self.token("/staff/login")
        data = {"email": self.email, "password": password, "csrf_token": token}
        if next_url is not None:
            data["next"] = next_url
        return self.client.post("/staff/login", data=data)

    def token(self, page: str = "/staff/") -> str:
        html = self.client.get(page).get_data(as_text=True)
        found = TOKEN_FIELD.search(html)
        assert found, f"no CSRF token on {page}"
        return found.group(1)

    def get(self, path: str, **kwargs) -> TestResponse:
        return self.client.get(path, **kwargs)

    def html(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict | None = None, page: str = "/staff/",
             **kwargs) -> TestResponse:
        """Post like the form on ``page`` would: with that page's CSRF token."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.token(page)},
                                **kwargs)

    def claim(self, request_id: int) -> TestResponse:
        return self.post(f"/staff/requests/{request_id}/claim")


def make_team(app: Flask) -> dict[str, Staff]:
    """Two agents and a supervisor, each signed in in their own browser."""
    make_user("ana@example.org", name="Ana")
    make_user("bob@example.org", name="Bob")
    make_user("sue@example.org", role="supervisor", name="Sue")
    return {name: Staff(app, f"{name}@example.org") for name in ("ana", "bob", "sue")}


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)
