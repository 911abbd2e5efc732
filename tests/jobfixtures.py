"""Job functions for the worker tests: rq imports jobs by dotted name."""

from flask import current_app


def remember(key: str, value: str) -> None:
    """Runs inside the worker's app context, as every hotline job does."""
    store = current_app.extensions["hotline.store"]
    store.set(key, value.encode(), 60)
