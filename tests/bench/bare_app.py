"""The baselines the USSD benchmark serves beside the real app, with the same settings.

``app`` answers ``END ok`` and does nothing else: what the server, the framework and
the load generator cost on their own. ``redis_only`` does the least any USSD service
must do when any worker may serve any hop: read the form, read the session from Redis
and write it back. No token check, no database, no flow engine, no validation; it
shows how close to ``app`` a real service can possibly come.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qsl

import redis
from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@app.post("/webhooks/at/ussd")
def ussd() -> Response:
    return Response("END ok", 200, mimetype="text/plain")


redis_only = Flask(__name__)
redis_only.add_url_rule("/healthz", view_func=healthz)
_store = redis.Redis.from_url(os.environ.get("HOTLINE_REDIS_URL", "redis://127.0.0.1:6379/12"))


@redis_only.post("/webhooks/at/ussd")
def ussd_state_only() -> Response:
    fields = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
    key = f"bench:{fields['sessionId']}"
    raw = _store.get(key)
    session = json.loads(raw) if raw else {"hops": 0}
    # About the size of the app's record: the last text, a state, a reply of one screen.
    session.update(hops=session["hops"] + 1, text=fields["text"], reply="x" * 300)
    _store.set(key, json.dumps(session), ex=300)
    return Response("END ok", 200, mimetype="text/plain")
