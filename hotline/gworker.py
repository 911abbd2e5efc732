"""gunicorn's threaded worker, noting when each request was queued (``hotline.admission``).

gunicorn's ``gthread`` worker accepts connections in its main thread and hands each
readable one to a thread pool whose queue has no bound: under overload requests wait
there for ever. This worker only stamps each connection as it is queued and passes
the stamp to the app, which then sheds what waited too long (see ``hotline.admission``).
"""

from __future__ import annotations

import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

from hotline import admission


class QueueStampingWorker(ThreadWorker):
    def enqueue_req(self, conn: Any) -> None:
        conn.hotline_queued_at = time.monotonic()  # before a thread can take it
        super().enqueue_req(conn)

    def handle_request(self, req: Any, conn: Any) -> bool:
        admission.queued(getattr(conn, "hotline_queued_at", None))
        try:
            return super().handle_request(req, conn)
        finally:
            admission.queued(None)
