"""Every exception the hotline raises on purpose is a ``HotlineError``.

One root lets the CLI, the workers and a newcomer catch "our" errors apart from
bugs and library failures. Private control-flow signals (a leading underscore,
such as the engine's ``_Halted`` for a dry walk) never leave their module and are
not errors, so they are left out.
"""

from __future__ import annotations

import importlib
import pkgutil

import hotline
from hotline.errors import HotlineError


def hotline_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in a hotline module (all modules imported first)."""
    for module in pkgutil.walk_packages(hotline.__path__, "hotline."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    found: list[type[BaseException]] = []
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                pending.append(sub)
    return [c for c in found if c.__module__.split(".")[0] == "hotline"]


def test_every_public_exception_is_rooted_at_hotline_error() -> None:
    classes = hotline_exceptions()
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    # the walk finds what it must: the ones that once derived from Exception or ValueError
    assert {"hotline.deadline.DeadlineExceeded", "hotline.gateways.GatewayError",
            "hotline.spool.SpoolError", "hotline.webhooks.BadForm",
            "hotline.services.outbox.OutboxError", "hotline.worktime.WorktimeError",
            "hotline.staff.oversight.BadFilter"} <= names
    stray = sorted(f"{c.__module__}.{c.__qualname__}" for c in classes
                   if not issubclass(c, HotlineError) and not c.__name__.startswith("_"))
    assert stray == []


def test_errors_that_callers_catch_as_value_error_still_are_one() -> None:
    from hotline.services.outbox import OutboxError
    from hotline.staff.oversight import BadFilter
    from hotline.worktime import WorktimeError

    for error in (OutboxError, BadFilter, WorktimeError):
        assert issubclass(error, ValueError) and issubclass(error, HotlineError)
