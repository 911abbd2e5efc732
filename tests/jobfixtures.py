"""Job functions for the worker tests: rq imports jobs by dotted name."""

from flask import current_app


def remember(key: str, value: str) -> None:
    """Runs inside the worker's app context, as every hotline job does."""
    store = current_app.extensions["hotline.store"]
    store.set(key, value.encode(), 60)


def note(key: str, value: str) -> None:
    """Appends ``value`` to a Redis list, so a test can read the order jobs ran in."""
    current_app.extensions["hotline.redis"].rpush(key, value.encode())
