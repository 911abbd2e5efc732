"""rq entry points, by dotted name: they take ids, never objects, and read fresh rows."""

from __future__ import annotations

from hotline.services import outbox


def send_outbox(message_ids: int | list[int]) -> str:
    """Send outbox messages, batched with others of the same text (see services.outbox)."""
    return outbox.send(message_ids)
