"""The application factory: settings, extensions, flows, blueprints, in that order."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import FunctionType
from typing import Any

import redis
import sqlalchemy as sa
import sqlalchemy.engine.url as sa_url
from flask import Flask, Response, jsonify, request
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from hotline import alerttexts, areas, config, deadline, logs
from hotline.actions import ActionTable, declared_actions
from hotline.content import Catalog
from hotline.errors import INTERNAL_ERROR, ConfigError, SpecError
from hotline.extensions import db, migrate
from hotline.flows import Engine, Graph
from hotline.flows.check import check_all
from hotline.jobqueue import JobQueue
from hotline.keywords import Keywords
from hotline.services import callback_policy, ussd
from hotline.services.inbound_sms import ENTRY_NODES, SmsService
from hotline.services.ussd import ERROR_KEYS, UssdService
from hotline.spool import Spool
from hotline.store import GuardedStore, MemoryStore, RedisStore
from hotline.textcodec import Budget
from hotline.webhooks.ussd import DirectHops
from hotline.worktime import WorktimeError, hours_label

log = logging.getLogger("hotline")
DEPENDENCY_ERRORS = (RedisError, *ussd.DEPENDENCY_ERRORS)
UNAVAILABLE_PAGE = (  # no template: rendering one may need the very service that is down
    "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Temporarily unavailable"
    "</title><h1>Temporarily unavailable</h1><p>A service this page needs is not answering. "
    "Nothing you did was lost; try again in a minute.</p></html>")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SECURITY_HEADERS = (  # on every response unless a page set its own
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
)


class HotlineFlask(Flask):
    """Flask, asking once per function whether it is a coroutine instead of on every call
    (``ensure_sync`` runs for each hook and view of every request: eight per USSD hop).

    Only plain functions are remembered: a class-based view hands over a bound method
    made for each request, and remembering those would grow without end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[FunctionType, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        found = self._sync.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if isinstance(func, FunctionType):
                self._sync[func] = found
        return found


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
                        tuple(sorted(window_hours(settings).items())),
                        silent_exit_words(settings), json.dumps(settings["ALERTS"], sort_keys=True))


def silent_exit_words(settings: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(w) for w in settings["SMS"]["silent_exit"])


@lru_cache(maxsize=8)
def _check_specs(root: str, centre: str, all_budgets: tuple, windows: tuple = (),
                 silent_exit: tuple = (), alerts_json: str = "{}"):
    values = json.loads(centre)
    alerts = json.loads(alerts_json)
    known_areas, area_problems = areas.read()
    templates, _ = alerttexts.parse_templates(alerts.get("templates") or {})
    table = declared_actions()
    checked = check_all(Path(root), values=values, budgets=all_budgets,
                        action_names=set(table.actions), action_vars=table.provided_vars(),
                        code_keys=ERROR_KEYS, screen_keys=ERROR_KEYS, windows=dict(windows),
                        hooks=[alerttexts.check_hook(alerts, known_areas, area_problems)],
                        choices=lambda catalog: alerttexts.choice_lists(catalog, known_areas,
                                                                        templates))
    if checked.graph is not None and not checked.problems:
        checked.problems.extend(Keywords(checked.catalog, silent_exit).problems(values))
    return checked


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    settings = config.load_settings(overrides)
    problems = config.problems(settings)
    try:
        callback_settings = callback_policy.parse_settings(settings)
    except ConfigError as exc:
        problems += exc.problems
    problems += alerttexts.settings_problems(settings.get("ALERTS") or {})
    if problems:
        raise ConfigError(problems)
    # INSTANCE_PATH (an override, not an environment setting): tests keep the working tree clean
    instance = settings.get("INSTANCE_PATH") or Path(settings["ROOT"]) / "instance"
    app = HotlineFlask("hotline", instance_path=str(instance))
    if settings["ENV"] == "development":
        config.fill_development_secrets(settings, Path(app.instance_path))
    app.config.update(settings)
    app.extensions["hotline.callbacks"] = callback_settings
    register_by_name(app)
    hops = int(settings["PROXY_HOPS"])
    if hops:  # the client's address (sign-in throttling) is the proxy's unless we trust it
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # (Flask's own idiom)
    configure_logging(app)
    register_limits(app)
    register_database(app)
    register_store(app)
    register_flows(app)
    register_blueprints(app)
    register_errorhandlers(app)
    app.wsgi_app = SecurityHeaders(  # type: ignore[method-assign]
        DirectHops(app, app.wsgi_app))
    return app


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response that did not set its own, as it leaves
    the app: error pages, redirects and static files included.

    A WSGI wrapper rather than an ``after_request`` hook: the hook added them to
    werkzeug's ``Headers``, which checks every value as it is added, and cost a tenth of
    the framework's work on a USSD hop (about 60,000 of 640,000 instructions, counted
    with callgrind); here they are appended to the plain list the server gets.
    """

    LOWERED = tuple((name.lower(), (name, value)) for name, value in SECURITY_HEADERS)

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(pair for name, pair in self.LOWERED if name not in present)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def after_fork(app: Flask) -> None:
    """In a worker forked from a process that built ``app`` (gunicorn's ``preload_app``):
    forget the parent's database and Redis connections without closing them, so two
    processes never talk over one socket; each worker opens its own on first use.
    The deadline watchdog starts its own thread per process already. Anything else
    served (a benchmark's baseline app) has nothing to forget."""
    if "sqlalchemy" not in getattr(app, "extensions", {}):
        return
    for engine in engines(app):
        engine.dispose(close=False)
    client = app.extensions.get("hotline.redis")
    if client is not None:
        client.connection_pool.reset()


def configure_logging(app: Flask) -> None:
    """Redact every log record of this process (numbers, e-mails, tokens, our secrets)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logs.install(secret_values(app.config))


def secret_values(settings: Mapping[str, Any]) -> list[str | None]:
    """Values that must never appear in a log line, even inside an error message."""
    found = [settings.get(k) for k in ("SECRET_KEY", "WEBHOOK_TOKEN", "AT_API_KEY")]
    for key in ("DATABASE_URL", "REDIS_URL"):
        try:
            found.append(sa_url.make_url(str(settings.get(key) or "")).password)  # type: ignore[arg-type]
        except Exception:  # not a URL: nothing to hide in it
            continue
    return found


def register_limits(app: Flask) -> None:
    """A deadline on every request, shorter on the gateway's; see ``hotline.deadline``."""
    limits = app.config["LIMITS"]
    every = logs.Every(log, limits["degraded_log_seconds"])
    app.extensions["hotline.log_every"] = every
    trusted_hops = int(app.config.get("PROXY_HOPS") or 0)

    def start_deadline_for(path: str, forwarded: bool) -> None:
        """``forwarded``: the request came with X-Forwarded-For."""
        seconds = limits["ussd_hop_seconds"] if path.startswith("/webhooks/") \
            else limits["request_seconds"]  # the gateway waits at most 10 s for an answer
        deadline.start(seconds)
        if not trusted_hops and forwarded:
            every.warning("xff", "X-Forwarded-For received but HOTLINE_PROXY_HOPS=0: the header "
                          "is ignored and the client address is the connecting socket's; set "
                          "HOTLINE_PROXY_HOPS to the number of proxies in front")

    app.extensions["hotline.start_deadline"] = start_deadline_for  # hotline.webhooks.ussd

    @app.before_request
    def start_deadline() -> None:
        start_deadline_for(request.path, "X-Forwarded-For" in request.headers)

    @app.teardown_request
    def finish_deadline(exc: BaseException | None) -> None:
        deadline.finish(None)


def register_database(app: Flask) -> None:
    url = app.config.get("DATABASE_URL")
    if not url:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{Path(app.instance_path) / 'hotline.sqlite3'}"
        log.info("development mode: SQLite database at %s", url)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url, app.config["LIMITS"]))
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or 256 * 1024
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), render_as_batch=True)
    with app.app_context():
        deadline.watch_engine(db.engine)  # also pings each connection as it leaves the pool
    # The statements a USSD dial and a language choice run commit by themselves. On an
    # engine of their own, whose connections are opened in autocommit, no connection is
    # switched to autocommit and back on each use (about 45 µs of CPU per statement);
    # the same limits, deadline and ping apply (``hotline.services.contacts.autocommit``).
    autocommit = sa.create_engine(url, isolation_level="AUTOCOMMIT",
                                  **app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    deadline.watch_engine(autocommit)
    app.extensions["hotline.autocommit"] = autocommit


def engines(app: Flask) -> list[sa.Engine]:
    """Every engine of ``app``: Flask-SQLAlchemy's, and the USSD statements' autocommit one."""
    with app.app_context():
        found = [db.engine]
    autocommit = app.extensions.get("hotline.autocommit")
    return found if autocommit is None else [*found, autocommit]


def engine_options(url: str, limits: Mapping[str, Any]) -> dict[str, Any]:
    """Every wait on PostgreSQL bounded: connecting, each statement, locks, the pool, TCP.

    Bound parameters never appear in errors or logs (``hide_parameters``): they are
    callers' phone numbers.
    """
    options: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": False}
    if not url.startswith("postgresql"):
        return options
    server = (f"-c statement_timeout={int(limits['db_statement_timeout_ms'])} "
              f"-c lock_timeout={int(limits['db_lock_timeout_ms'])} "
              f"-c idle_in_transaction_session_timeout="
              f"{int(limits['db_idle_in_transaction_ms'])}")
    options.update(
        pool_timeout=limits["db_pool_timeout"], pool_size=int(limits["db_pool_size"]),
        max_overflow=int(limits["db_max_overflow"]),
        connect_args={
            "connect_timeout": max(2, int(limits["db_connect_timeout"])), "options": server,
            "keepalives": 1, "keepalives_idle": int(limits["db_keepalives_idle"]),
            "keepalives_interval": int(limits["db_keepalives_interval"]),
            "keepalives_count": int(limits["db_keepalives_count"]),
            # unacknowledged data this long means the host is gone (Linux; milliseconds)
            "tcp_user_timeout": int(limits["db_keepalives_idle"] * 1000)})
    return options


def register_store(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    if url:
        limits = app.config["LIMITS"]
        client = redis.Redis.from_url(
            url, socket_timeout=limits["redis_socket_timeout"],
            socket_connect_timeout=limits["redis_connect_timeout"],
            retry=Retry(NoBackoff(), 0))  # a retry would double the wait of a hop
        app.extensions["hotline.redis"] = client
        app.extensions["hotline.store"] = RedisStore(client)
        JobQueue(app, client)
        register_spool(app, client)
    else:
        log.info("development mode: no HOTLINE_REDIS_URL, sessions kept in this process "
                 "and jobs run inline")
        app.extensions["hotline.redis"] = None
        app.extensions["hotline.store"] = MemoryStore()
        JobQueue(app, None)
        register_spool(app, None)


def register_spool(app: Flask, client: redis.Redis | None) -> None:
    """Where missed calls wait while PostgreSQL is down (see ``hotline.spool``)."""
    directory = Path(app.config.get("SPOOL_DIR") or Path(app.instance_path) / "spool")
    app.extensions["hotline.spool"] = Spool("voice", client, directory)


def register_flows(app: Flask) -> None:
    checked = check_specs(app.config)
    if checked.problems:
        raise SpecError(checked.problems)
    graph: Graph = checked.graph
    catalog: Catalog = checked.catalog
    network_budgets = budgets(app.config)
    centre = dict(app.config["CENTRE"])
    templates, _ = alerttexts.parse_templates(app.config["ALERTS"]["templates"])
    lists = alerttexts.choice_lists(catalog, areas.load(), templates)
    app.extensions["hotline.alert_templates"] = templates
    engines: dict[str, Engine] = {}
    actions: ActionTable = app.extensions["hotline.actions"]

    def engine_for(network_code: str) -> Engine:
        key = network_code if network_code in network_budgets else ""
        if key not in engines:
            engines[key] = Engine(graph, catalog, values=centre, budget=network_budgets[key],
                                  actions=actions.actions,
                                  default_lang=app.config["DEFAULT_LANGUAGE"],
                                  windows=window_hours(app.config), choices=lists)
        return engines[key]

    app.extensions["hotline.engine_for"] = engine_for
    app.extensions["hotline.catalog"] = catalog
    missing = [n for n in ENTRY_NODES if n not in graph.nodes]
    if missing:
        raise SpecError([f"flows: node {n} is missing (the SMS channel enters there)"
                         for n in missing])
    app.extensions["hotline.sms"] = SmsService(
        engine_for, catalog, app.extensions["hotline.store"], app.config,
        Keywords(catalog, silent_exit_words(app.config)))
    app.extensions["hotline.ussd"] = UssdService(
        engine_for, catalog,
        GuardedStore(app.extensions["hotline.store"], app.config["LIMITS"]["redis_retry_seconds"],
                     app.extensions["hotline.log_every"]),
        app.config,
        config.service_codes(app.config), app.extensions["hotline.log_every"])


def register_by_name(app: Flask) -> None:
    """What this app runs by name, given here and nowhere else: the flow actions, the
    sweeps ``hotline sweep`` runs, and the development login ``make run`` prints.

    Importing a module registers nothing, so no app depends on which modules happened
    to be imported first, and two apps (or two tests) never share a registry.
    """
    from hotline import sweeper
    from hotline.staff import users

    app.extensions["hotline.actions"] = declared_actions()
    app.extensions["hotline.sweeps"] = sweeper.STANDARD_SWEEPS
    app.extensions["hotline.dev_logins"] = (users.development_login,)


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

    def dependency_down(exc: Exception) -> Response:
        """PostgreSQL or Redis down or slow: a clear 503, never a 500 or a traceback."""
        db.session.rollback()
        app.extensions["hotline.log_every"].warning(
            f"down:{type(exc).__name__}", "%s %s answered 503: %s (%s)", request.method,
            request.path, type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        if request.path.startswith("/webhooks/"):
            return Response("503 Service Unavailable: retry later\n", 503,
                            mimetype="text/plain", headers={"Retry-After": "30"})
        if request.is_json or request.path.startswith("/staff/try/"):
            response = jsonify(error="temporarily unavailable, try again in a minute",
                               status=503)
            response.status_code = 503
            return response
        return Response(UNAVAILABLE_PAGE, 503, mimetype="text/html",
                        headers={"Retry-After": "30", "Cache-Control": "no-store"})

    for error in DEPENDENCY_ERRORS:
        app.register_error_handler(error, dependency_down)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        db.session.rollback()
        log.exception("unexpected error on %s %s", request.method, request.path)
        return Response(INTERNAL_ERROR, 500, mimetype="text/plain")

