"""The USSD hop's own statements, run on psycopg's connection without SQLAlchemy's
``Connection.execute``.

A dial is one statement (``hotline.services.ussd.DIAL``), a language choice another.
For them SQLAlchemy's execute path (execution context, events, result metadata) cost
more CPU than psycopg and PostgreSQL's answer together: a dial 470-570 µs against
250-260 µs, a language UPDATE 410 µs against 230 µs (``tests/bench/ussd_hops.py``
explains the hop mix; figures from one machine). Everything else SQLAlchemy gives
these statements is kept: they take their connection from the engine's pool, whose
checkout events let the request's deadline watch the socket and ping a connection
that rested (``hotline.deadline``), and a failure is raised as SQLAlchemy raises it,
with parameters hidden, and with a dead connection invalidated so that
``hotline.services.contacts.once_more`` retries on a fresh one; the engine's
``before_cursor_execute`` hooks still run (the deadline's check among them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError


def fetch_one(engine: Engine, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The statement's first row (``%(name)s`` placeholders, psycopg's style)."""
    return _run(engine, sql, params, fetch=True)


def row_count(engine: Engine, sql: str, params: Mapping[str, Any]) -> int:
    """The number of rows the statement changed."""
    return _run(engine, sql, params, fetch=False)


def _run(engine: Engine, sql: str, params: Mapping[str, Any], fetch: bool) -> Any:
    # The engine's statement hooks still see the statement (the request's deadline
    # checks it has time left; tests count statements). They get no SQLAlchemy
    # Connection, cursor or context: there is none.
    for hook in engine.dispatch.before_cursor_execute:
        hook(None, None, sql, params, None, False)
    pooled = engine.raw_connection()
    try:
        # prepare=True: parsed and planned once per connection, as psycopg does on its
        # own only after the fifth use
        driver: Any = pooled.driver_connection  # psycopg's Connection, checked out
        cursor = driver.execute(sql, params, prepare=True)
        return cursor.fetchone() if fetch else cursor.rowcount
    except engine.dialect.loaded_dbapi.Error as exc:
        dead = engine.dialect.is_disconnect(exc, pooled, None)
        if dead:  # as SQLAlchemy does: this connection goes, and the idle ones with it
            pooled.invalidate(exc)
            engine.pool.dispose()
        raise DBAPIError.instance(sql, params, exc, engine.dialect.loaded_dbapi.Error,
                                  hide_parameters=engine.hide_parameters,
                                  connection_invalidated=dead,
                                  dialect=engine.dialect) from exc
    finally:
        pooled.close()
