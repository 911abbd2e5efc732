"""How long the request this thread serves waited for a thread: the overload signal.

Under overload a gunicorn worker's queue grows without bound, and every hop waits
there until the gateway gives up on it (about 10 s): nobody is served. What the
app can see is how long the request waited before a thread took it up; when that
passes a limit, the webhook answers a short "busy, dial again" END instead of the
screen, so the queue drains and the callers already inside keep being served.
The worker (``hotline.gworker``) stamps the moment it queued the connection; this
module only carries that stamp to the app, without importing gunicorn.
"""

from __future__ import annotations

import threading
import time

_local = threading.local()


def queued(at: float | None) -> None:
    """The ``time.monotonic()`` at which the request now being served was queued."""
    _local.at = at


def waited() -> float | None:
    """Seconds the current request waited for a thread; None when not known (not served
    by ``hotline.gworker``, e.g. the test client or another server)."""
    at = getattr(_local, "at", None)
    return None if at is None else time.monotonic() - at
