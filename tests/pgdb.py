"""PostgreSQL set-up shared by the test fixtures and the benchmarks."""

from __future__ import annotations

import sqlalchemy as sa


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist; touches no other."""
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": target.database}).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
