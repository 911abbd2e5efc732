"""rq entry points, by dotted name: they take ids, never objects, and read fresh rows."""

from __future__ import annotations

from hotline.services import outbox


def send_outbox(message_ids: int | list[int]) -> str:
    """Send outbox messages, batched with others of the same text (see services.outbox)."""
    return outbox.send(message_ids)


def fan_out_broadcast(broadcast_id: int) -> str:
    """Turn a confirmed alert into outbox rows, chunk by chunk (see services.broadcasts)."""
    from hotline.services import broadcasts

    return broadcasts.fan_out(broadcast_id)


def top_up_broadcast(broadcast_id: int, round_: int = 0) -> str:
    """Hand over a broadcast's rows that no batch took, then finish it (services.broadcasts)."""
    from hotline.services import broadcasts

    return broadcasts.top_up(broadcast_id, round_)
