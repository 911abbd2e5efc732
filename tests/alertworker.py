"""A real rq worker in its own process, for the alert tests that kill one mid-way.

``python -m tests.alertworker '<overrides as JSON>' <seconds per chunk>``: the app
is built with the test's settings (database, Redis, the fake gateway); a positive
delay slows each fan-out chunk so that a test can SIGKILL the process while the
fan-out is half done. It works in burst mode: it exits when the queues are empty.
"""

from __future__ import annotations

import json
import sys
import time

from rq import SimpleWorker
from rq.serializers import JSONSerializer

from hotline import create_app
from hotline.jobqueue import QUEUES, jobs
from hotline.services import broadcasts


def main() -> None:
    overrides, delay = json.loads(sys.argv[1]), float(sys.argv[2])
    if delay > 0:
        real = broadcasts._insert_chunk

        def slow(*args, **kwargs):
            time.sleep(delay)
            return real(*args, **kwargs)

        broadcasts._insert_chunk = slow
    app = create_app(overrides)
    with app.app_context():
        queue = jobs()
        SimpleWorker([queue.queues[name] for name in QUEUES], connection=queue.connection,
                     serializer=JSONSerializer).work(burst=True, with_scheduler=True)


if __name__ == "__main__":
    main()
