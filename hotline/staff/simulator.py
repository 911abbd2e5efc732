""""Try the service": the real flows and texts in a phone on the page, as a preview.

The page's script posts each key press to ``/staff/try/step``, which runs the
app's own flow engine on the same graph, texts and screen budgets as the USSD
webhook. Its actions are stand-ins that return sample values and touch
nothing: a preview never stores a callback request or a contact. The session
state lives in the signed Flask session cookie, so the client cannot forge it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import current_app, jsonify, render_template, request, session
from flask_babel import gettext as _

from hotline.actions import ActionTable
from hotline.flows import ActionCall, ActionResult, Engine, Screen, State
from hotline.flows.engine import Action, replace_actions
from hotline.staff import bp
from hotline.textcodec import measure

SAMPLE_VARS = {"ref": "2345678", "until": "14:00"}
SAMPLE_DEFAULT = "12345"
MAX_INPUT = 182  # the longest USSD input a handset sends
SESSION_KEY = "try_state"


def _stand_in(outcome: str, provides: tuple[str, ...]) -> Action:
    values = {var: SAMPLE_VARS.get(var, SAMPLE_DEFAULT) for var in provides}

    def act(call: ActionCall) -> ActionResult:
        return ActionResult(outcome, values)

    return act


def _outcomes(engine: Engine) -> dict[str, str]:
    """For each action, an outcome its flow node can follow: "ok", else its first route."""
    chosen: dict[str, str] = {}
    for node in engine.graph.nodes.values():
        if node.kind == "action" and node.action:
            routes = list(node.routes)
            chosen.setdefault(node.action, "ok" if node.next or not routes or "ok" in routes
                              else routes[0])
    return chosen


def preview_engine(network: str) -> Engine:
    """The webhook's engine for ``network`` with every action replaced by a harmless stand-in."""
    real: Engine = current_app.extensions["hotline.engine_for"](network)
    cache: dict[int, Engine] = current_app.extensions.setdefault("hotline.staff.preview", {})
    if id(real) not in cache:
        outcomes = _outcomes(real)
        table: ActionTable = current_app.extensions["hotline.actions"]
        stand_ins = {name: _stand_in(outcomes.get(name, "ok"), table.provides.get(name, ()))
                     for name in set(table.actions) | set(outcomes)}
        cache[id(real)] = replace_actions(real, stand_ins)
    return cache[id(real)]


def networks() -> list[str]:
    return sorted(str(code) for code in (current_app.config["USSD"].get("networks") or {}))


def _screen(screen: Screen, state: State, network: str) -> dict[str, Any]:
    lang = state.lang
    return {"text": screen.text, "end": screen.end, "lang": lang or "",
            "dir": "rtl" if lang == "ar" else ("auto" if lang is None else "ltr"),
            "units": screen.units, "encoding": screen.encoding, "limit": screen.limit,
            "over": screen.units > screen.limit, "page": screen.page + 1,
            "pages": screen.pages, "node": screen.node, "network": network,
            "hops": state.hops}


def _fail(message: str, status: int = 400) -> Any:
    return jsonify(error=message), status


@bp.get("/try")
def try_service() -> Any:
    catalog = current_app.extensions["hotline.catalog"]
    return render_template("staff/simulator.html", languages=list(catalog.languages),
                           networks=networks(), samples=SAMPLE_VARS, max_input=MAX_INPUT)


@bp.post("/try/step")
def try_step() -> Any:
    """``{"dial": true, "lang": "ar"|"en"|"", "network": ""}`` or ``{"input": "1"}``."""
    data = request.get_json(silent=True)
    if not isinstance(data, Mapping):
        return _fail(_("Send a JSON object."))
    catalog = current_app.extensions["hotline.catalog"]
    if data.get("dial"):
        lang, network = data.get("lang") or None, str(data.get("network") or "")
        if lang is not None and lang not in catalog.languages:
            return _fail(_("Unknown language."))
        if network and network not in networks():
            return _fail(_("Unknown network code."))
        state, screen = preview_engine(network).begin(lang, {"channel": "preview"})
        session[SESSION_KEY] = json.dumps({"state": state.to_dict(), "network": network})
        return jsonify(_screen(screen, state, network))
    value = data.get("input")
    if not isinstance(value, str) or len(value) > MAX_INPUT or "\x00" in value:
        return _fail(_("Input must be text of at most %(n)s characters.", n=MAX_INPUT))
    saved = session.get(SESSION_KEY)
    if not saved:
        return _fail(_("Dial first."), 409)
    stored = json.loads(saved)
    network = stored["network"]
    engine = preview_engine(network)
    state = State.from_dict(stored["state"])
    if state.ended:
        return _fail(_("This session has ended: dial again."), 409)
    if state.hops + 1 > current_app.config["USSD"]["max_hops"]:
        session.pop(SESSION_KEY, None)
        text = catalog.render(state.lang or engine.default_lang, "error.too_long")
        cost = measure(text)
        return jsonify({"text": text, "end": True, "lang": state.lang or "", "dir": "auto",
                        "units": cost.units, "encoding": cost.encoding,
                        "limit": engine.budget.limit(cost.encoding),
                        "over": False, "page": 1, "pages": 1, "node": "", "network": network,
                        "hops": state.hops})
    state, screen = engine.step(state, value, {"channel": "preview"})
    session[SESSION_KEY] = json.dumps({"state": state.to_dict(), "network": network})
    return jsonify(_screen(screen, state, network))
