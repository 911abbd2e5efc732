"""Gunicorn settings for production: threads suit a service waiting on PostgreSQL and Redis."""

import multiprocessing
import os

bind = os.environ.get("HOTLINE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("HOTLINE_WEB_WORKERS", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("HOTLINE_WEB_THREADS", 4))
timeout = 15  # a USSD hop must answer within 10 s; a stuck worker is replaced
graceful_timeout = 10
accesslog = None  # request URLs carry the webhook token: no access log by default
max_requests = 5000
max_requests_jitter = 500
