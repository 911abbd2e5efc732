"""Named actions that flows may call; each is a thin door from the engine to a service.

An action must be idempotent: replaying a lost session runs it again.
``PROVIDES`` names the variables an action sets, so ``hotline check`` knows
which placeholders will be filled.
"""

from __future__ import annotations

from hotline.flows.engine import Action

ACTIONS: dict[str, Action] = {}
PROVIDES: dict[str, tuple[str, ...]] = {}


def action(name: str, provides: tuple[str, ...] = ()):
    """Register a function as the action ``name``."""

    def register(func: Action) -> Action:
        ACTIONS[name] = func
        PROVIDES[name] = provides
        return func

    return register


def provided_vars() -> set[str]:
    return {var for names in PROVIDES.values() for var in names}
