"""The baseline: a Flask app whose USSD endpoint does nothing but answer ``END ok``.

Served by the same gunicorn settings as the real app in the same run, it shows what
the server, the framework and the load generator cost on their own.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@app.post("/webhooks/at/ussd")
def ussd() -> Response:
    return Response("END ok", 200, mimetype="text/plain")
