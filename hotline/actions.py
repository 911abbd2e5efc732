"""Named actions that flows may call; each is a thin door from the engine to a service.

An action must be idempotent: replaying a lost session runs it again.
``@action`` declares a function with the variables it sets (so ``hotline check``
knows which placeholders will be filled); importing this module registers
nothing: the app factory takes ``declared_actions()`` into the app it builds.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import current_app

from hotline import alerttexts, areas
from hotline.errors import HotlineError
from hotline.flows.engine import Action, ActionCall, ActionResult
from hotline.services import (
    broadcasts,
    caller_requests,
    contacts,
    inbound_sms,
    leaders,
    subscriptions,
)

DECLARED = "__hotline_action__"  # (name, provides) on a function declared with @action


@dataclass(frozen=True)
class ActionTable:
    """The actions one app's flows may call by name, and the variables each one sets."""

    actions: Mapping[str, Action]
    provides: Mapping[str, tuple[str, ...]]

    def provided_vars(self) -> set[str]:
        return {var for names in self.provides.values() for var in names}


def action(name: str, provides: tuple[str, ...] = ()) -> Callable[[Action], Action]:
    """Declare a function as the action ``name`` (marks it; registers nothing)."""

    def declare(func: Action) -> Action:
        setattr(func, DECLARED, (name, provides))
        return func

    return declare


def declared_actions() -> ActionTable:
    """A new table of every action declared in this module, for one app (or one check)."""
    actions: dict[str, Action] = {}
    provides: dict[str, tuple[str, ...]] = {}
    for func in list(globals().values()):
        if inspect.isfunction(func) and hasattr(func, DECLARED):
            name, sets = getattr(func, DECLARED)
            if name in actions:
                raise HotlineError(f"two functions declare the action {name!r}")
            actions[name], provides[name] = func, sets
    return ActionTable(actions, provides)


@action("callback.submit", provides=("ref", "until"))
def callback_submit(call: ActionCall) -> ActionResult:
    """Store the caller's callback request (committed before the END screen).

    The outcome is the day the caller hears (today, tomorrow, sun...sat), so the
    END text for each is in content; ``until`` is the local time before which
    we call. Replays and repeats update the caller's open request.
    """
    v = call.vars
    done = caller_requests.submit(call.context["phone"], reason=v.get("reason", ""),
                                  safe_to_call=v.get("safe", ""), safe_times=v.get("times", ""),
                                  sms_ok=v.get("sms") == "yes", language=call.lang,
                                  channel=call.context["channel"])
    return ActionResult(done.expect_day, {"ref": done.ref, "until": done.expect_until})


@action("callback.mine", provides=("ref", "until"))
def callback_mine(call: ActionCall) -> ActionResult:
    """The caller's open request: outcome ``none``, or the day we call (as for submit)."""
    found = caller_requests.open_request(call.context["phone"])
    if found is None:
        return ActionResult("none")
    return ActionResult(found.expect_day, {"ref": found.ref, "until": found.expect_until})


@action("callback.cancel")
def callback_cancel(call: ActionCall) -> ActionResult:
    """Withdraw the request "My call request" showed (by its reference, the caller's own)."""
    caller_requests.cancel_by_caller(call.context["phone"], call.vars.get("ref", ""))
    return ActionResult()


@action("contact.exit")
def contact_exit(call: ActionCall) -> ActionResult:
    """Stop everything: withdraw every open request and alert subscription (a line in the
    consent ledger, once per session however often it is replayed) and mark the number
    as exited."""
    # The contact first, as a request of the same caller being stored takes it
    # (``contacts.lock``): the ledger line below would otherwise hold a weak lock on the
    # contact while waiting for that request, which waits for it: a deadlock.
    contacts.lock(call.context["phone"])
    subscriptions.unsubscribe(call.context["phone"], channel="exit", lang=call.lang,
                              ref=f"{call.context['channel']}:"
                                  f"{call.context.get('session_id', '')[:100]}:exit")
    caller_requests.withdraw_for_phone(call.context["phone"],
                                       channel=call.context["channel"])
    return ActionResult()


@action("sms.copy", provides=("sent",))
def sms_copy(call: ActionCall) -> ActionResult:
    """Send the SMS copy named by the session variable ``copy`` (the caller said yes).

    Keyed by the session and the topic, so a replayed hop or a repeated text
    queues it once. ``sent`` tells the SMS channel that the copy is the reply.
    """
    topic = call.vars.get("copy", "")
    sent = inbound_sms.send_copy(current_app.extensions["hotline.catalog"],
                          current_app.config["CENTRE"], phone=call.context["phone"],
                          topic=topic, lang=call.lang,
                          idempotency_key=f"copy:{call.context.get('session_id', '')}:{topic}",
                          default_lang=current_app.config["DEFAULT_LANGUAGE"])
    return ActionResult(vars={"sent": "yes" if sent else "no"})


# --- community alerts (flows/alerts.yaml) ----------------------------------------------------

def _ref(call: ActionCall, what: str) -> str:
    """One USSD session's ``what``: the same on a repeated hop and on a replay."""
    return f"{call.context['channel']}:{call.context.get('session_id', '')}:{what}"


@action("alerts.area", provides=("area", "area_name"))
def alerts_area(call: ActionCall) -> ActionResult:
    """After the state (``step: state``) or the part of it (``step: locality``)."""
    known = areas.load()
    if call.args.get("step") == "state":
        state = known.get(call.vars.get("state", ""))
        if state is not None and known.localities(state.code):
            return ActionResult("localities", {"area": "", "area_name": ""})
        code = state.code if state else ""
    else:
        code = call.vars.get("area", "")
    area = known.get(code)
    return ActionResult("ok", {"area": code, "area_name": area.name(call.lang) if area else ""})


@action("alerts.subscribe")
def alerts_subscribe(call: ActionCall) -> ActionResult:
    """Subscribe and write the consent to the ledger, once per session."""
    try:
        subscriptions.subscribe(call.context["phone"], call.vars.get("area", ""),
                                call.vars.get("topics", "").split(","),
                                channel=call.context["channel"], lang=call.lang,
                                ref=_ref(call, "subscribe"))
    except subscriptions.SubscriptionError:
        return ActionResult("invalid")
    return ActionResult("ok")


@action("alerts.unsubscribe")
def alerts_unsubscribe(call: ActionCall) -> ActionResult:
    subscriptions.unsubscribe(call.context["phone"], channel=call.context["channel"],
                              lang=call.lang, ref=_ref(call, "unsubscribe"))
    return ActionResult("ok")


@action("leader.begin", provides=("scope",))
def leader_begin(call: ActionCall) -> ActionResult:
    """Only a registered phone gets further; its areas become the only ones offered."""
    outcome, leader = leaders.begin(call.context["phone"])
    scope = ",".join(leaders.scope(leader)) if leader is not None else ""
    return ActionResult(outcome, {"scope": scope, "pin_ok": ""})


@action("leader.set_pin", provides=("pin_ok",))
def leader_set_pin(call: ActionCall) -> ActionResult:
    outcome = leaders.set_pin(call.context["phone"], call.vars.get("pin", ""),
                              call.vars.get("pin2", ""))
    return ActionResult(outcome, {"pin": "", "pin2": "", "pin_ok": "1" if outcome == "ok" else ""})


@action("leader.check_pin", provides=("pin_try",))
def leader_check_pin(call: ActionCall) -> ActionResult:
    """The PIN leaves the session here; each try is counted once, even on a replay."""
    tried = int(call.vars.get("pin_try", "0") or 0)
    result = leaders.check_pin(call.context["phone"], call.vars.get("pin", ""),
                               _ref(call, f"pin{tried}"))
    return ActionResult(result.outcome, {"pin": "", "pin_try": str(tried + 1),
                                         "pin_ok": "1" if result.outcome == "ok" else ""})


@action("leader.template")
def leader_template(call: ActionCall) -> ActionResult:
    """A template (re)chosen: fields filled for another one do not carry over; ``own``
    when the leader chose to write their own message."""
    own = call.vars.get("tpl") == alerttexts.OWN
    return ActionResult("own" if own else "ok", {"day": "", "place": "", "own": ""})


@action("leader.check_own", provides=("parts", "most"))
def leader_check_own(call: ActionCall) -> ActionResult:
    """The leader's own message: ``bad`` for a character outside the rule or a link,
    ``long`` when it takes more SMS than an alert may (the parts counted in GSM-7 or
    UCS-2, whichever the text needs), else ``ok`` with the text as it will be printed."""
    limits = broadcasts.settings()
    text = alerttexts.clean_own(call.vars.get("own", ""), int(limits["own_max"]))
    if text is None:
        return ActionResult("bad", {"own": ""})
    parts = broadcasts.own_parts(text, alerttexts.written_in(text,
                                                             broadcasts.catalog().languages))
    if parts > int(limits["max_parts"]):
        return ActionResult("long", {"own": "", "parts": str(parts),
                                     "most": str(limits["max_parts"])})
    return ActionResult("ok", {"own": text, "parts": str(parts)})


@action("leader.next_field")
def leader_next_field(call: ActionCall) -> ActionResult:
    template = broadcasts.templates().get(call.vars.get("tpl", ""))
    for name in template.fields if template else ():
        if name != "area" and not call.vars.get(name):
            return ActionResult(name)
    return ActionResult("done")


@action("leader.check_place")
def leader_check_place(call: ActionCall) -> ActionResult:
    place = alerttexts.clean_place(call.vars.get("place", ""),
                                   int(broadcasts.settings()["place_max"]))
    return ActionResult("ok" if place else "bad", {"place": place or ""})


def _leader_alert(call: ActionCall, send: bool) -> ActionResult:
    if call.vars.get("pin_ok") != "1":
        return ActionResult("invalid")
    phone, area_code = call.context["phone"], call.vars.get("area", "")
    own = call.vars.get("tpl") == alerttexts.OWN
    if own:  # waits for a supervisor: its own confirmation and END screens
        result = broadcasts.create_own_from_leader(phone, call.vars.get("own", ""), area_code,
                                                   key=_ref(call, "send")) if send \
            else broadcasts.check_leader_own(phone, call.vars.get("own", ""), area_code)
    else:
        args = (phone, call.vars.get("tpl", ""),
                {k: call.vars.get(k, "") for k in ("day", "place")}, area_code)
        result = broadcasts.create_from_leader(*args, key=_ref(call, "send")) if send \
            else broadcasts.check_leader_alert(*args)
    area = areas.load().get(area_code)
    found = {"count": str(result.count), "parts": str(result.parts),
             "area_name": area.name(call.lang) if area else ""}
    if result.broadcast is not None:
        found["bref"] = broadcasts.ref_of(result.broadcast)
    outcome = result.outcome
    if own and outcome == "ok":
        outcome = "pending" if send else "own"
    return ActionResult(outcome, found)


@action("leader.preview", provides=("count", "parts", "area_name"))
def leader_preview(call: ActionCall) -> ActionResult:
    """Recipients and parts for the confirmation screen; nothing is stored."""
    return _leader_alert(call, send=False)


@action("leader.send", provides=("bref",))
def leader_send(call: ActionCall) -> ActionResult:
    """Confirm: one broadcast per session, however often this hop arrives."""
    return _leader_alert(call, send=True)
