"""Contacts: one row per phone number, created on first contact.

The statements a USSD hop runs are built once, with bound parameters: building
them per call cost more CPU than PostgreSQL spent running them (measured by
``tests/bench/ussd_hops.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import BindParameter, Connection, Engine, Insert, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from hotline import driversql
from hotline.extensions import db
from hotline.models import Contact, utcnow

T = TypeVar("T")

SET_LANGUAGE = (update(Contact)
                .where(Contact.phone == bindparam("p_phone"),
                       Contact.language.is_distinct_from(bindparam("p_lang")))
                .values(language=bindparam("p_lang")))
SET_LANGUAGE_SQL = ("UPDATE contacts SET language = %(p_lang)s "
                    "WHERE phone = %(p_phone)s AND language IS DISTINCT FROM %(p_lang)s")


def insert_for(dialect: str) -> Any:
    """``INSERT … ON CONFLICT`` exists in both databases we run on, under two names."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


@cache
def upsert(dialect: str) -> Insert:
    """Insert the number or touch ``last_seen_at``: safe when two first hops race."""
    now: BindParameter[Any] = bindparam("p_now")
    return (insert_for(dialect)(Contact)
            .values(phone=bindparam("p_phone"), created_at=now, last_seen_at=now)
            .on_conflict_do_update(index_elements=[Contact.phone], set_={"last_seen_at": now}))


@cache
def _touch(dialect: str) -> Insert:
    return upsert(dialect).returning(Contact.id, Contact.language)


def get_or_create(phone: str) -> Contact:
    # One statement, not an upsert then a select.
    return db.session.scalars(upsert(db.engine.dialect.name).returning(Contact),
                              {"p_phone": phone, "p_now": utcnow()},
                              execution_options={"populate_existing": True}).one()


def find(phone: str) -> Contact | None:
    return db.session.scalars(select(Contact).where(Contact.phone == phone)).one_or_none()


def lock(phone: str) -> Contact | None:
    """The caller's contact row, locked until the transaction ends, before anything else
    of theirs is written. Whatever changes one caller's requests, subscriptions and exit
    takes this lock first, so two of them queue instead of deadlocking: a row that
    references the contact (a consent-ledger line) takes a weak lock on it, and one taken
    before another transaction's strong lock closes a cycle."""
    return db.session.scalars(select(Contact).where(Contact.phone == phone)
                              .with_for_update()).one_or_none()


def autocommit() -> Connection:
    """A connection on which each statement commits by itself.

    A USSD hop writes one or two rows that need no transaction around them; without
    BEGIN and COMMIT a dial makes three round trips to PostgreSQL (the pool's ping and
    two statements) instead of five. The connection comes from the app's autocommit
    engine (``hotline.app.register_database``): same database, limits and deadline.
    """
    return autocommit_engine().connect()


def autocommit_engine() -> Engine:
    """The engine ``autocommit`` connects with (``hotline.driversql`` runs on it too)."""
    return current_app.extensions["hotline.autocommit"]


def once_more(work: Callable[[], T]) -> T:
    """``work`` (idempotent statements on a connection of its own), again once if the
    connection it got had died unnoticed: the pool trusts a connection that answered a
    moment ago without a ping (``hotline.deadline.PING_AFTER``), and drops them all when
    one is found dead, so the second try gets a new connection. Any other error, or a
    second failure, is raised as it is."""
    try:
        return work()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return work()


def touch(conn: Connection, phone: str) -> tuple[int, str | None]:
    """The caller's id and language, creating the contact on first contact."""
    row: Any = conn.execute(_touch(conn.dialect.name),
                            {"p_phone": phone, "p_now": utcnow()}).one()
    return row.id, row.language


def remember_language(phone: str, lang: str) -> bool:
    """Store the language a caller chose; True when it changed (one UPDATE)."""
    params = {"p_phone": phone, "p_lang": lang}

    def update() -> bool:
        engine = autocommit_engine()
        if engine.dialect.name == "postgresql":  # on the driver: hotline.driversql
            return bool(driversql.row_count(engine, SET_LANGUAGE_SQL, params))
        with autocommit() as conn:
            return bool(conn.execute(SET_LANGUAGE, params).rowcount)

    return once_more(update)
