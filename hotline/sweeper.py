"""Periodic repair: what ``hotline sweep`` runs (cron or a systemd timer, every minute)."""

from __future__ import annotations

from collections.abc import Callable

SWEEPS: list[Callable[[], str]] = []
DEV_LOGINS: list[Callable[[], str]] = []


def sweep() -> list[str]:
    """Run every registered sweep; each returns one line saying what it did."""
    return [job() for job in SWEEPS] or ["nothing to sweep"]


def development_logins() -> list[str]:
    return [make() for make in DEV_LOGINS]


def _expire_callback_claims() -> str:
    from hotline.services.callbacks import expire_claims

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
