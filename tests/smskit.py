"""A phone texting the service: posts what Africa's Talking posts for an inbound SMS."""

from __future__ import annotations

import itertools

from flask.testing import FlaskClient

from hotline.extensions import db
from hotline.models import OutboxMessage
from tests.conftest import PHONE, TOKEN

_ids = itertools.count(1)


class Texter:
    def __init__(self, client: FlaskClient, phone: str = PHONE, token: str = TOKEN) -> None:
        self.client, self.phone, self.token = client, phone, token

    def post(self, **fields: str):
        return self.client.post(f"/webhooks/at/sms?token={self.token}", data=fields)

    def send(self, text: str, provider_id: str | None = None) -> int:
        """Text the service; the webhook's status code."""
        response = self.post(**{"from": self.phone, "to": "12345", "text": text,
                                "date": "2026-11-29 10:00:00",
                                "id": provider_id or f"ATXid_{next(_ids):08d}",
                                "linkId": "", "networkCode": "63401"})
        return response.status_code

    def replies(self) -> list[str]:
        """Every SMS queued to this phone, oldest first."""
        db.session.expire_all()
        return list(db.session.scalars(
            db.select(OutboxMessage.body).where(OutboxMessage.recipient == self.phone)
            .order_by(OutboxMessage.id)))

    def say(self, text: str) -> str | None:
        """Text the service and return its answer (None when it answered nothing)."""
        before = len(self.replies())
        assert self.send(text) == 200
        after = self.replies()
        assert len(after) <= before + 1, "one reply per text at most"
        return after[-1] if len(after) > before else None
