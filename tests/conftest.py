"""Fixtures: the real app on real PostgreSQL and Redis, and a USSD caller that posts
what Africa's Talking posts.

``HOTLINE_TEST_DATABASE_URL`` and ``HOTLINE_TEST_REDIS_URL`` choose the services;
the database is created and migrated with the project's own migrations once per run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

from hotline import alerttexts, areas, create_app
from hotline.app import check_specs, engines, window_hours
from hotline.config import load_settings
from hotline.extensions import db
from hotline.flows import Engine
from hotline.textcodec import Budget
from tests import routecache
from tests.fakeat import FakeAT
from tests.mutants.order import fastest_first
from tests.pgdb import ensure_database

routecache.install()

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/hotline_test")
REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "test-webhook-token-0123456789abcdef"  # production wants 32+
SPOOL_DIR = Path(tempfile.mkdtemp(prefix="hotline-test-spool-"))
# What an app writes into instance/ (development secrets, the demo login) goes here, so
# that no test writes into the working tree.
INSTANCE = Path(tempfile.mkdtemp(prefix="hotline-test-instance-"))
PHONE = "+249912345678"


def overrides(**extra: Any) -> dict[str, Any]:
    return {"TESTING": True, "ENV": "development", "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL, "SECRET_KEY": "test-secret-" + "x" * 32,
            "WEBHOOK_TOKEN": TOKEN, "SPOOL_DIR": str(SPOOL_DIR), "INSTANCE_PATH": str(INSTANCE),
            # A test waits on browsers and worker processes with its own session open;
            # production's 10 s would cut the test's connection, not the app's.
            "LIMITS": {"db_idle_in_transaction_ms": 120_000}, **extra}


# Hypothesis: in CI (CI=true) the same examples every run (derandomized, no example
# database), so a red build is reproducible and a green one is not luck; locally, random
# examples as usual, remembered outside the working tree.
HYPOTHESIS_HOME = Path(tempfile.gettempdir()) / f"hotline-hypothesis-{os.getuid()}"
set_hypothesis_home_dir(str(HYPOTHESIS_HOME))  # its caches too, not .hypothesis/ here
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True)
settings.register_profile("dev", deadline=None, database=DirectoryBasedExampleDatabase(
    HYPOTHESIS_HOME / "examples"))
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes")
                      else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut, a mutant's tests fastest first (see tests/mutants/order.py)."""
    fastest_first(items, os.environ.get("MUTANT_UNDER_TEST", ""))


@pytest.fixture(scope="session", autouse=True)
def _instance_outside_the_working_tree() -> Iterator[None]:
    yield
    shutil.rmtree(INSTANCE, ignore_errors=True)
    shutil.rmtree(SPOOL_DIR, ignore_errors=True)


@pytest.fixture()
def fake() -> Iterator[FakeAT]:
    """The fake Africa's Talking server (a real HTTP server on 127.0.0.1), for one test."""
    with FakeAT() as server:
        yield server


@pytest.fixture(scope="session")
def migrated() -> None:
    """Drop everything, then build the schema with the migrations, as production does."""
    ensure_database(DATABASE_URL)
    engine = sa.create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    from flask_migrate import upgrade

    app = create_app(overrides())
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _clean(app: Flask) -> None:
    """Empty every table; DELETE is far quicker than TRUNCATE on tables this small."""
    with app.app_context():
        # the audit log refuses DELETE (a trigger); replica mode, for superusers only, skips it
        db.session.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
            if "id" in table.c:  # ids start at 1 again, as after a fresh migration
                db.session.execute(sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), 1, "
                                           "false)"), {"t": table.name})
        db.session.commit()
        db.session.remove()
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    shutil.rmtree(SPOOL_DIR, ignore_errors=True)


def sql_during(app: Flask, work: Any) -> list[str]:
    """Every statement either of the app's engines (Flask-SQLAlchemy's and the USSD
    statements' autocommit one) ran while ``work()`` ran."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    watched = engines(app)
    for engine in watched:
        sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        work()
    finally:
        for engine in watched:
            sa.event.remove(engine, "before_cursor_execute", listen)
    return seen


def fresh_example(app: Flask) -> None:
    """For a hypothesis test on a function-scoped app: empty tables and Redis before each
    example, so no example sees rows another one left and a failure replays alone."""
    db.session.rollback()
    _clean(app)


def dispose(app: Flask) -> None:
    """Close what an app opened, so no connection outlives its test."""
    with app.app_context():
        db.session.remove()
    for engine in engines(app):
        engine.dispose()
    client = app.extensions.get("hotline.redis")
    if client is not None:
        client.close()


@pytest.fixture()
def app(migrated: None) -> Iterator[Flask]:
    app = create_app(overrides())
    _clean(app)
    with app.app_context():
        yield app
        db.session.remove()
    dispose(app)


@pytest.fixture()
def make_app(migrated: None) -> Iterator:
    """Build extra apps with other settings (a service down, another budget)."""
    made: list[Flask] = []

    def make(**extra: Any) -> Flask:
        made.append(create_app(overrides(**extra)))
        return made[-1]

    yield make
    for app in made:
        dispose(app)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class UssdCaller:
    """One phone dialling the service: posts the fields AT posts, text growing with '*'."""

    def __init__(self, client: FlaskClient, phone: str = PHONE, network: str = "63401",
                 service_code: str = "*384*1234#", token: str = TOKEN) -> None:
        self.client, self.phone, self.network = client, phone, network
        self.service_code, self.token = service_code, token
        self.inputs: list[str] = []
        self.session_id = ""
        self.body = ""

    @property
    def text(self) -> str:
        return self.body[4:]

    @property
    def ended(self) -> bool:
        return self.body.startswith("END ")

    def post(self, text: str) -> str:
        response = self.client.post(
            f"/webhooks/at/ussd?token={self.token}",
            data={"sessionId": self.session_id, "serviceCode": self.service_code,
                  "phoneNumber": self.phone, "networkCode": self.network, "text": text})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/plain"
        self.body = response.get_data(as_text=True)
        assert self.body.startswith(("CON ", "END ")), self.body
        return self.text

    def dial(self) -> str:
        self.session_id = "ATUid_" + secrets.token_hex(16)
        self.inputs = []
        return self.post("")

    def press(self, *values: str) -> str:
        for value in values:
            self.inputs.append(value)
            self.post("*".join(self.inputs))
        return self.text


@pytest.fixture()
def ussd(client: FlaskClient) -> UssdCaller:
    return UssdCaller(client)


@pytest.fixture()
def workcopy(tmp_path: Path) -> Path:
    """A copy of flows/ and content/ to break on purpose (``hotline check --root``)."""
    for name in ("flows", "content"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture(scope="session")
def specs():
    settings = load_settings()
    checked = check_specs(settings)
    assert not checked.problems, "\n".join(checked.problems)
    templates, _ = alerttexts.parse_templates(settings["ALERTS"]["templates"])
    lists = alerttexts.choice_lists(checked.catalog, areas.load(), templates)
    return checked, dict(settings["CENTRE"]), window_hours(settings), lists


@pytest.fixture()
def engine(specs) -> Engine:
    """The real flows and content in a pure engine: no app, no database."""
    checked, centre, windows, lists = specs
    return Engine(checked.graph, checked.catalog, values=centre, budget=Budget(), windows=windows,
                  default_lang="ar", choices=lists)
