"""Periodic repair: what ``hotline sweep`` runs (cron or a systemd timer, every minute)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hotline.extensions import db

log = logging.getLogger(__name__)

SWEEPS: list[Callable[[], str]] = []
DEV_LOGINS: list[Callable[[], str]] = []


def sweep() -> list[str]:
    """Run every registered sweep; each returns one line saying what it did.

    One sweep failing (PostgreSQL or Redis still away) does not keep the others from
    running; its line says so and the next minute tries again.
    """
    lines = []
    for job in SWEEPS:
        try:
            lines.append(job())
        except Exception as exc:
            db.session.rollback()
            log.warning("sweep %s failed", job.__name__, exc_info=True)
            lines.append(f"{job.__name__.strip('_').replace('_', ' ')}: failed "
                         f"({type(exc).__name__}), tried again next sweep")
    return lines or ["nothing to sweep"]


def development_logins() -> list[str]:
    return [make() for make in DEV_LOGINS]


def _expire_callback_claims() -> str:
    from hotline.services.casework import expire_claims

    return expire_claims()


SWEEPS.append(_expire_callback_claims)


def _finish_broadcasts() -> str:
    from hotline.services.broadcasts import finish_sweep, restart_sweep

    return f"{restart_sweep()}; {finish_sweep()}"


SWEEPS.append(_finish_broadcasts)


def _sweep_outbox() -> str:
    from hotline.services.outbox import sweep as sweep_outbox

    return sweep_outbox()


SWEEPS.append(_sweep_outbox)


def _alert_oncall() -> str:
    from hotline.services.oncall import sweep_unclaimed

    return sweep_unclaimed()


SWEEPS.append(_alert_oncall)


def _store_spooled_missed_calls() -> str:
    from flask import current_app

    from hotline.services.missed_calls import record_spooled

    stored, waiting = current_app.extensions["hotline.spool"].drain(record_spooled)
    return f"missed calls: {stored} spooled call(s) stored, {waiting} still waiting"


SWEEPS.append(_store_spooled_missed_calls)


def _purge_once_a_day() -> str:
    """Retention runs from the every-minute sweep, once per UTC day (the first sweep wins)."""
    from flask import current_app

    from hotline.services import callback_policy, retention

    day = callback_policy.now_utc().strftime("%Y-%m-%d")
    store, key = current_app.extensions["hotline.store"], f"hotline:purged:{day}"
    if not store.add(key, b"1", 2 * 24 * 3600):
        return f"retention: already applied on {day}"
    try:
        return "retention: " + "; ".join(retention.purge())
    except Exception:
        store.delete(key)  # not done: the next sweep tries again
        raise


SWEEPS.append(_purge_once_a_day)
