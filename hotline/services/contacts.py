"""Contacts: one row per phone number, created on first contact."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hotline.extensions import db
from hotline.models import Contact, utcnow


def get_or_create(phone: str) -> Contact:
    """Safe against two first hops of the same caller racing each other."""
    dialect = db.engine.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    upsert = (insert(Contact).values(phone=phone, created_at=now, last_seen_at=now)
              .on_conflict_do_update(index_elements=[Contact.phone], set_={"last_seen_at": now})
              .returning(Contact))
    # One statement, not an upsert then a select: a dial is a USSD hop and must stay quick.
    return db.session.scalars(upsert, execution_options={"populate_existing": True}).one()


def find(phone: str) -> Contact | None:
    return db.session.scalars(select(Contact).where(Contact.phone == phone)).one_or_none()
