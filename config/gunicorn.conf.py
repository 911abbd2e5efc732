"""Gunicorn settings for production: threads suit a service waiting on PostgreSQL and Redis.

No request can hold a thread for long: every request has a deadline that cuts its
database sockets (``[limits]`` in defaults.toml, ``hotline.deadline``), Redis commands
time out, and ``timeout`` replaces a worker whose main loop stops answering. With
``threads`` per worker, one slow dependency slows some requests, never all of them.
"""

import multiprocessing
import os

from hotline import logs

# Every log line of the master and its workers (gunicorn's own error and access logs
# included) goes through the redactor: no phone number, e-mail, token or secret.
logs.install(os.environ.get(f"HOTLINE_{key}") for key in ("SECRET_KEY", "WEBHOOK_TOKEN",
                                                            "AT_API_KEY"))

bind = os.environ.get("HOTLINE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("HOTLINE_WEB_WORKERS", multiprocessing.cpu_count()))
# gunicorn's gthread worker, also noting when each request was queued: a USSD hop that
# waited too long for a thread answers "busy, dial again" at once ([limits]
# ussd_busy_*_seconds, hotline.admission), so overload never makes every caller wait.
worker_class = "hotline.gworker.QueueStampingWorker"
threads = int(os.environ.get("HOTLINE_WEB_THREADS", 8))
# Bounded queues in front of the app: each worker holds at most this many connections
# (the gateway keeps a few alive; the rest are hops waiting for a thread), and the kernel
# keeps at most ``backlog`` connections not yet accepted. Large enough for what arrives
# while hops wait up to the busy limits (2,000 hops/s x 0.25 s = 500): a connection the
# kernel drops is retried after 1, 3, 7 s (measured: 250 and 256 gave 20 s waits).
worker_connections = int(os.environ.get("HOTLINE_WEB_CONNECTIONS", 1000))
backlog = int(os.environ.get("HOTLINE_WEB_BACKLOG", 1024))
timeout = 30  # the worker's own heartbeat; requests are bounded by their deadlines (<= 8 s)
graceful_timeout = 10
keepalive = 5  # the gateway reuses connections; an idle one is closed after this
# The app is built once, in the master, and each worker is a fork of it: a worker that
# ``max_requests`` replaces costs a fork (milliseconds, memory shared copy-on-write)
# instead of importing and checking every flow and text again (0.9-1.9 s of CPU each,
# every few seconds at 1,000 hops/s with the old 5,000). Recycling only bounds a slow
# leak, so it is rare too: about every 100 s per worker at peak, hours normally, with
# jitter so the workers never restart together. A release therefore needs a restart of
# the master (systemctl restart, or USR2 then QUIT); HUP re-forks the code already loaded.
preload_app = True
max_requests = 50000
max_requests_jitter = 5000
limit_request_line = 4094
limit_request_fields = 50
# Off unless asked for ("-" for stderr). The path is logged without its query string,
# where the webhook token travels; the redactor would remove it anyway.
accesslog = os.environ.get("HOTLINE_ACCESS_LOG") or None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def post_fork(server, worker):  # noqa: ARG001  (gunicorn's hook signature)
    logs.install()  # inherited from the master already; a no-op made explicit
    if server.cfg.preload_app:  # the master built the app: no socket of it may be shared
        from hotline.app import after_fork

        after_fork(server.app.wsgi())
