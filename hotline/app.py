"""The application factory: settings, extensions, flows, blueprints, in that order."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from hotline import config
from hotline.actions import ACTIONS, provided_vars
from hotline.content import Catalog
from hotline.errors import ConfigError, SpecError
from hotline.extensions import db, migrate
from hotline.flows import Engine, Graph
from hotline.flows.check import check_all
from hotline.jobqueue import JobQueue
from hotline.services import callbacks
from hotline.services.ussd import ERROR_KEYS, UssdService
from hotline.store import MemoryStore, RedisStore
from hotline.textcodec import Budget
from hotline.worktime import WorktimeError, hours_label

log = logging.getLogger("hotline")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SECURITY_HEADERS = (  # on every response unless a page set its own
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
)


def budgets(settings: Mapping[str, Any]) -> dict[str, Budget]:
    """The default screen budget under ``""`` and one per configured network code."""
    ussd = settings["USSD"]
    found = {"": Budget(ussd["gsm7_budget"], ussd["ucs2_budget"])}
    for code, values in (ussd.get("networks") or {}).items():
        found[str(code)] = Budget(int(values.get("gsm7_budget", ussd["gsm7_budget"])),
                                  int(values.get("ucs2_budget", ussd["ucs2_budget"])))
    return found


def window_hours(settings: Mapping[str, Any]) -> dict[str, str]:
    """``[callbacks.windows]`` as labels show them (``{"evening": "3-6"}``); a window that
    does not parse is left out here and reported by the callback settings."""
    found = {}
    for name, span in dict((settings.get("CALLBACKS") or {}).get("windows") or {}).items():
        try:
            found[str(name)] = hours_label(str(span))
        except WorktimeError:
            continue
    return found


def check_specs(settings: Mapping[str, Any]):
    """Everything ``hotline check`` proves, for these settings."""
    centre = json.dumps(settings["CENTRE"], sort_keys=True)  # hashable, with per-language tables
    return _check_specs(settings["ROOT"], centre,
                        tuple(sorted(budgets(settings).values(), key=repr)),
                        tuple(sorted(window_hours(settings).items())))


@lru_cache(maxsize=8)
def _check_specs(root: str, centre: str, all_budgets: tuple, windows: tuple = ()):
    return check_all(Path(root), values=json.loads(centre), budgets=all_budgets,
                     action_names=set(ACTIONS), action_vars=provided_vars(),
                     code_keys=ERROR_KEYS, screen_keys=ERROR_KEYS, windows=dict(windows))


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.load_settings(overrides)
    problems = config.problems(settings)
    try:
        callback_settings = callbacks.parse_settings(settings)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    # INSTANCE_PATH (an override, not an environment setting): tests keep the working tree clean
    instance = settings.get("INSTANCE_PATH") or Path(settings["ROOT"]) / "instance"
    app = Flask("hotline", instance_path=str(instance))
    if settings["ENV"] == "development":
        config.fill_development_secrets(settings, Path(app.instance_path))
    app.config.update(settings)
    app.extensions["hotline.callbacks"] = callback_settings
    hops = int(settings.get("PROXY_HOPS") or 0)
    if hops:  # the client's address (sign-in throttling) is the proxy's unless we trust it
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # (Flask's own idiom)
    configure_logging(app)
    register_database(app)
    register_store(app)
    register_flows(app)
    register_blueprints(app)
    register_errorhandlers(app)
    return app


class RedactToken(logging.Filter):
    """Access logs print request URLs; the webhook token in them is a secret."""

    PATTERN = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(self.PATTERN.sub(r"\1[redacted]", a) if isinstance(a, str)
                                else a for a in record.args)
        record.msg = self.PATTERN.sub(r"\1[redacted]", str(record.msg))
        return True


def configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    access = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactToken) for f in access.filters):
        access.addFilter(RedactToken())


def register_database(app: Flask) -> None:
    url = app.config.get("DATABASE_URL")
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(app.instance_path) / 'hotline.sqlite3'}"
        log.info("development mode: SQLite database at %s", url)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or 256 * 1024
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)


def register_store(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if url:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        app.extensions["hotline.redis"] = client
        app.extensions["hotline.store"] = RedisStore(client)
        JobQueue(app, client)
    else:
        log.info("development mode: no HOTLINE_REDIS_URL, sessions kept in this process "
                 "and jobs run inline")
        app.extensions["hotline.redis"] = None
        app.extensions["hotline.store"] = MemoryStore()
        JobQueue(app, None)


def register_flows(app: Flask) -> None:
    checked = check_specs(app.config)
    if checked.problems:
        raise SpecError(checked.problems)
    graph: Graph = checked.graph
    catalog: Catalog = checked.catalog
    network_budgets = budgets(app.config)
    centre = dict(app.config["CENTRE"])
    engines: dict[str, Engine] = {}

    def engine_for(network_code: str) -> Engine:
        key = network_code if network_code in network_budgets else ""
        if key not in engines:
            engines[key] = Engine(graph, catalog, values=centre, budget=network_budgets[key],
                                  actions=ACTIONS, default_lang=app.config["DEFAULT_LANGUAGE"],
                                  windows=window_hours(app.config))
        return engines[key]

    app.extensions["hotline.engine_for"] = engine_for
    app.extensions["hotline.catalog"] = catalog
    app.extensions["hotline.ussd"] = UssdService(
        engine_for, catalog, app.extensions["hotline.store"], app.config,
        config.service_codes(app.config))


def register_blueprints(app: Flask) -> None:
    from hotline import health, staff, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    staff.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if request.path.startswith("/webhooks/"):
            return Response(f"{exc.code} {exc.name}\n", exc.code, mimetype="text/plain")
        return jsonify(error=exc.name, status=exc.code), exc.code  # type: ignore[return-value]

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        db.session.rollback()
        log.exception("unexpected error on %s %s", request.method, request.path)
        return Response("500 Internal Server Error\n", 500, mimetype="text/plain")

    @app.after_request
    def security_headers(response: Response) -> Response:
        present = {key.lower() for key in response.headers.keys()}  # noqa: SIM118 (a Headers)
        response.headers.extend([(k, v) for k, v in SECURITY_HEADERS if k.lower() not in present])
        return response
