"""Named actions that flows may call; each is a thin door from the engine to a service.

An action must be idempotent: replaying a lost session runs it again.
``PROVIDES`` names the variables an action sets, so ``hotline check`` knows
which placeholders will be filled.
"""

from __future__ import annotations

from hotline.flows.engine import Action, ActionCall, ActionResult
from hotline.services import callbacks

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


@action("callback.submit", provides=("ref", "until"))
def callback_submit(call: ActionCall) -> ActionResult:
    """Store the caller's callback request (committed before the END screen).

    The outcome is the day the caller hears (today, tomorrow, sun...sat), so the
    END text for each is in content; ``until`` is the local time before which
    we call. Replays and repeats update the caller's open request.
    """
    v = call.vars
    done = callbacks.submit(call.context["phone"], reason=v.get("reason", ""),
                            safe_to_call=v.get("safe", ""), safe_times=v.get("times", ""),
                            sms_ok=v.get("sms") == "yes", language=call.lang,
                            channel=call.context.get("channel", "ussd"))
    return ActionResult(done.expect_day, {"ref": done.ref, "until": done.expect_until})


@action("callback.mine", provides=("ref", "until"))
def callback_mine(call: ActionCall) -> ActionResult:
    """The caller's open request: outcome ``none``, or the day we call (as for submit)."""
    found = callbacks.open_request(call.context["phone"])
    if found is None:
        return ActionResult("none")
    return ActionResult(found.expect_day, {"ref": found.ref, "until": found.expect_until})


@action("callback.cancel")
def callback_cancel(call: ActionCall) -> ActionResult:
    """Withdraw the request "My call request" showed (by its reference, the caller's own)."""
    callbacks.cancel_by_caller(call.context["phone"], call.vars.get("ref", ""))
    return ActionResult()


@action("contact.exit")
def contact_exit(call: ActionCall) -> ActionResult:
    """Stop everything: withdraw every open request and mark the number as exited."""
    callbacks.withdraw_for_phone(call.context["phone"],
                                 channel=call.context.get("channel", "ussd"))
    return ActionResult()
