"""The pure flow engine: ``step(state, input) -> (state, screen)``.

A session is a fold of ``step`` over the caller's inputs, so a lost session is
rebuilt by replaying the gateway's ``text`` path. Actions are the only door to
the outside world; they are injected, and must be idempotent because a replay
runs them again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hotline.content import Catalog, Value, placeholders
from hotline.errors import HotlineError
from hotline.flows.screens import Layout, layout, with_hint
from hotline.flows.spec import Graph, Node, Option
from hotline.normalize import menu_input
from hotline.textcodec import Budget, TextCost, measure

BACK, HOME, MORE = "0", "00", "98"
NAV_KEYS = ("nav.more", "nav.back", "nav.home", "nav.invalid")
MAX_HISTORY = 40
MAX_ACTION_CHAIN = 16


@dataclass(frozen=True)
class ActionCall:
    """What a named action gets: its flow arguments, the session's variables and who calls."""

    name: str
    args: Mapping[str, Any]
    vars: Mapping[str, str]
    lang: str | None
    context: Mapping[str, str]


@dataclass(frozen=True)
class ActionResult:
    outcome: str = "ok"
    vars: Mapping[str, str] = field(default_factory=dict)


Action = Callable[[ActionCall], ActionResult]
# A named list for ``choose`` nodes: (label, value) pairs for a language and the session's
# variables. It must be a pure function of those two, because a replay lists it again.
Choices = Callable[[str, Mapping[str, str]], Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class State:
    """Where a caller is; plain data, stored as JSON between hops."""

    node: str
    lang: str | None = None
    page: int = 0
    history: tuple[tuple[str, int], ...] = ()
    vars: Mapping[str, str] = field(default_factory=dict)
    hops: int = 0
    ended: bool = False
    private: bool = False  # the session passed a private node: keep no trace of it

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "lang": self.lang, "page": self.page,
                "history": [list(h) for h in self.history], "vars": dict(self.vars),
                "hops": self.hops, "ended": self.ended, "private": self.private}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        return cls(node=data["node"], lang=data.get("lang"), page=int(data.get("page", 0)),
                   history=tuple((str(n), int(p)) for n, p in data.get("history", [])),
                   vars=dict(data.get("vars", {})), hops=int(data.get("hops", 0)),
                   ended=bool(data.get("ended", False)),
                   private=bool(data.get("private", False)))


@dataclass(frozen=True)
class Screen:
    """One reply: its text and what it costs on the air."""

    text: str
    end: bool
    node: str
    page: int
    pages: int
    encoding: str
    units: int
    limit: int


class Engine:
    """A graph, its texts and the injected actions; holds no per-caller state."""

    def __init__(self, graph: Graph, catalog: Catalog, *, values: Mapping[str, Value] | None = None,
                 budget: Budget | None = None, actions: Mapping[str, Action] | None = None,
                 default_lang: str | None = None, windows: Mapping[str, str] | None = None,
                 choices: Mapping[str, Choices] | None = None) -> None:
        self.graph = graph
        self.catalog = catalog
        self.values = dict(values or {})
        self.budget = budget or Budget()
        self.actions = dict(actions or {})
        self.choices = dict(choices or {})
        self.default_lang = default_lang or catalog.languages[0]
        # Hours of each named time window ("8-12"): an option that sets a variable to a
        # window's name shows them in its label's ``{hours}``, so labels follow config.
        self.windows = dict(windows or {})
        self._cache: dict[tuple[Any, ...], Layout] = {}
        self._reads: dict[str, tuple[str, ...] | None] = {}
        self._costs: dict[str, TextCost] = {}
        self._navs: dict[str, tuple[str, str, str]] = {}

    # --- rendering -------------------------------------------------------------------------

    def _text(self, lang: str, key: str, vars: Mapping[str, str]) -> str:
        return self.catalog.render(lang, key, {**self.values, **vars})

    @staticmethod
    def _visible(node: Node, vars: Mapping[str, str]) -> list[Option]:
        """A menu's options; one marked ``when: var`` only while that variable is set."""
        return [o for o in node.options if o.when is None or vars.get(o.when)]

    def _listed(self, node: Node, lang: str, vars: Mapping[str, str]) -> Sequence[tuple[str, str]]:
        """A choose node's (label, value) pairs; an unknown list shows nothing to pick."""
        provider = self.choices.get(node.choices or "")
        return provider(lang, vars) if provider else ()

    def _option_lines(self, node: Node, lang: str, vars: Mapping[str, str]) -> list[str]:
        if node.kind == "choose":
            return [f"{i}. {label}" for i, (label, _) in enumerate(self._listed(node, lang, vars),
                                                                    1)]

        def label_lang(option: Option) -> str:
            return option.set.get("lang", lang) if node.multilingual else lang

        def label_vars(option: Option) -> Mapping[str, str]:
            hours = next((self.windows[v] for v in option.set.values() if v in self.windows),
                         None)
            return vars if hours is None else {**vars, "hours": hours}

        return [f"{i}. {self._text(label_lang(o), o.label, label_vars(o))}"
                for i, o in enumerate(self._visible(node, vars), 1)]

    def _chunks(self, node: Node, lang: str, vars: Mapping[str, str]) -> list[str]:
        if node.multilingual:
            langs = list(dict.fromkeys(o.set["lang"] for o in node.options if "lang" in o.set))
            return ["\n".join(self._text(lg, k, vars) for lg in langs for k in node.text)] \
                if node.text else []
        return [self._text(lang, k, vars) for k in node.text]

    def _nav_words(self, lang: str) -> tuple[str, str, str]:
        """Rendered once per language: every screen but the last of a session asks."""
        if lang not in self._navs:
            more, back, home = (self.catalog.render(lang, k) for k in NAV_KEYS[:3])
            self._navs[lang] = (more, back, home)
        return self._navs[lang]

    def navs(self, node_id: str, lang: str, first_page: bool = False) -> tuple[str, str]:
        """The navigation lines a page is sized for: before the last page, and on it.

        The first page of the main menu has nothing to go back to (entering it clears
        the history), so it only ever carries "98 more"; every other page may carry the
        longest of the two lines. Each item is a line of its own: on a phone that lays
        Arabic out left to right, "0 رجوع 00 القائمة" would pair 0 with "menu".
        """
        more, back, home = self._nav_words(lang)
        if self.graph[node_id].kind == "end":  # the session ends: nothing to navigate
            return "", ""
        if first_page and node_id == self.graph.home:
            return more, ""
        return f"{more}\n{back}", f"{back}\n{home}"

    def pages(self, node_id: str, lang: str, vars: Mapping[str, str] | None = None,
              budget: Budget | None = None) -> tuple[str, ...]:
        return self.layout(node_id, lang, vars, budget).pages

    def reads(self, node: Node) -> tuple[str, ...] | None:
        """The session variables a node's pages are drawn from: the placeholders of its
        texts and labels in every language, and its options' conditions. None when that
        cannot be known (a choose node's list may read any variable; a placeholder that
        is not a plain name): its pages are then cached per value of every variable."""
        if node.id not in self._reads:
            self._reads[node.id] = _reads(node, self.catalog)
        return self._reads[node.id]

    def layout(self, node_id: str, lang: str, vars: Mapping[str, str] | None = None,
               budget: Budget | None = None) -> Layout:
        node, vars, budget = self.graph[node_id], vars or {}, budget or self.budget
        # Keyed by what the pages are drawn from only: a session's other variables (its
        # earlier choices) would make each caller's screens a cache entry of their own.
        names = self.reads(node)
        used = tuple(sorted(vars.items())) if names is None else \
            tuple((name, vars[name]) for name in names if name in vars)
        key = (node_id, lang, budget, used)
        if key not in self._cache:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = layout(self._chunks(node, lang, vars),
                                      self._option_lines(node, lang, vars),
                                      self.navs(node_id, lang), budget,
                                      first_navs=self.navs(node_id, lang, first_page=True))
        return self._cache[key]

    def _nav_lang(self, state: State) -> str:
        return state.lang or self.default_lang

    def render(self, state: State, hint: bool = False) -> Screen:
        node = self.graph[state.node]
        lang = self._nav_lang(state)
        pages = self.pages(state.node, lang, state.vars)
        page = min(state.page, len(pages) - 1)
        body = pages[page]
        end = node.kind == "end"
        nav = "" if end else self._nav_line(state, lang, page, len(pages))
        if hint:
            langs = [lang] if state.lang else \
                sorted(self.catalog.languages, key=lambda lg: lg != self.default_lang)
            options = self._option_lines(node, lang, state.vars) \
                if node.kind in {"menu", "choose"} else []
            text = with_hint(" / ".join(self.catalog.render(lg, "nav.invalid") for lg in langs),
                             body, nav, self.budget, options)
        else:
            text = f"{body}\n{nav}" if nav else body
        cost = self._measure(text)
        return Screen(text, end, state.node, page, len(pages), cost.encoding, cost.units,
                      self.budget.limit(cost.encoding))

    def _measure(self, text: str) -> TextCost:
        """Screens repeat; measuring one character at a time was about 7% of a hop's CPU."""
        cost = self._costs.get(text)
        if cost is None:
            if len(self._costs) > 4096:
                self._costs.clear()
            cost = self._costs[text] = measure(text)
        return cost

    def _nav_line(self, state: State, lang: str, page: int, count: int) -> str:
        more, back, home = self._nav_words(lang)
        back_to = (state.node, page - 1) if page else (state.history[-1] if state.history else None)
        if state.node == self.graph.home and not page:
            back_to = None  # the main menu's first page is sized without "back" (see navs)
        items = []
        if page < count - 1:
            items.append(more)
        if back_to:
            items.append(back)
        if page == count - 1 and state.node != self.graph.home and back_to \
                and back_to[0] != self.graph.home:
            items.append(home)
        return "\n".join(items)

    # --- moving ----------------------------------------------------------------------------

    def begin(self, lang: str | None, context: Mapping[str, str] | None = None,
              vars: Mapping[str, str] | None = None) -> tuple[State, Screen]:
        """A new session; ``vars`` are what the service knows of the caller at the dial."""
        node = self.graph.home if lang else self.graph.start
        state = self._enter(State(node=node, lang=lang, vars=dict(vars or {})), node,
                            dict(context or {}), push=False)
        return state, self.render(state)

    def replay(self, inputs: Sequence[str], lang: str | None,
               context: Mapping[str, str] | None = None,
               vars: Mapping[str, str] | None = None) -> tuple[State, Screen]:
        state, screen = self.begin(lang, context, vars)
        for value in inputs:
            state, screen = self.step(state, value, context)
        return state, screen

    def private_path(self, inputs: Sequence[str], lang: str | None,
                     vars: Mapping[str, str] | None = None) -> bool:
        """Whether a session that received ``inputs`` passed a private node.

        Runs no action: where the path reaches one, what follows cannot be known
        without its side effects, so the answer is True (keep nothing rather than
        guess). Used on the gateway's end-of-session report, after the session.
        """
        dry = replace_actions(self, _HALT)
        state, _ = dry.begin(lang, vars=vars)
        try:
            for value in inputs:
                if state.private or state.ended:
                    break
                state, _ = dry.step(state, value)
        except _Halted:
            return True
        return state.private

    def step(self, state: State, raw: str, context: Mapping[str, str] | None = None
             ) -> tuple[State, Screen]:
        context = dict(context or {})
        state = replace(state, hops=state.hops + 1)
        if state.ended:
            return state, self.render(state)
        value = menu_input(raw)
        node = self.graph[state.node]
        shown = self.layout(state.node, self._nav_lang(state), state.vars)
        count = len(shown.pages)
        if value == HOME:
            state = replace(state, node=self.graph.home, page=0, history=())
        elif value == BACK:
            if state.page:
                state = replace(state, page=state.page - 1)
            elif state.history:
                node_id, page = state.history[-1]
                state = replace(state, node=node_id, page=page, history=state.history[:-1])
        elif value == MORE:
            if state.page >= count - 1:
                return state, self.render(state, hint=True)
            state = replace(state, page=state.page + 1)
        elif node.kind == "choose" and value.isdigit() and state.page >= shown.options_from \
                and 1 <= int(value) <= len(listed := self._listed(node, self._nav_lang(state),
                                                                  state.vars)):
            state = replace(state, vars={**state.vars, node.save or "": listed[int(value) - 1][1]})
            state = self._enter(state, node.next or "", context)
        elif node.kind in {"menu", "message"} and value.isdigit() and node.options \
                and state.page >= shown.options_from \
                and 1 <= int(value) <= len(visible := self._visible(node, state.vars)):
            option = visible[int(value) - 1]
            sets = dict(option.set)
            lang = sets.pop("lang", state.lang)
            state = replace(state, lang=lang, vars={**state.vars, **sets})
            state = self._enter(state, option.next, context)
        elif node.kind == "input" and self._valid_input(node, value, raw):
            saved = value if node.input_type == "digits" else " ".join(raw.split())
            if node.save:  # the spec refuses an input without one; the type allows None
                state = replace(state, vars={**state.vars, node.save: saved})
            state = self._enter(state, node.next or "", context)
        else:
            return state, self.render(state, hint=True)
        return state, self.render(state)

    @staticmethod
    def _valid_input(node: Node, value: str, raw: str) -> bool:
        if node.input_type == "digits":
            return value.isascii() and value.isdigit() and \
                node.min_len <= len(value) <= node.max_len
        text = " ".join(raw.split())
        return node.min_len <= len(text) <= node.max_len and text.isprintable()

    def _enter(self, state: State, target: str, context: dict[str, str], push: bool = True
               ) -> State:
        if push and state.node != target:
            history = (*state.history, (state.node, state.page))[-MAX_HISTORY:]
            state = replace(state, history=history)
        for _ in range(MAX_ACTION_CHAIN):
            node = self.graph[target]
            if node.private:
                state = replace(state, private=True)
            if node.kind != "action":
                if target == self.graph.home:  # the main menu is the root: nothing behind it
                    state = replace(state, history=())
                return replace(state, node=target, page=0, ended=node.kind == "end")
            action = self.actions.get(node.action or "")
            if action is None:
                raise HotlineError(f"no action registered as {node.action!r}")
            result = action(ActionCall(node.action or "", node.args, state.vars, state.lang,
                                       context))
            state = replace(state, vars={**state.vars, **result.vars})
            nxt = node.routes.get(result.outcome, node.next)
            if nxt is None:
                raise HotlineError(f"{node.id}: no route for outcome {result.outcome!r}")
            target = nxt
        raise HotlineError(f"more than {MAX_ACTION_CHAIN} actions in a row from {state.node}")


def _reads(node: Node, catalog: Catalog) -> tuple[str, ...] | None:
    if node.kind == "choose" or node.choices:
        return None
    found = {o.when for o in node.options if o.when}
    for lang in catalog.languages:
        for key in (*node.text, *(o.label for o in node.options)):
            for name in placeholders(catalog.text(lang, key)) if catalog.has(lang, key) else ():
                if not name.isidentifier():  # "{0}", "{a.b}", "{a[0]}", malformed braces
                    return None
                found.add(name)
    return tuple(sorted(found))


class _Halted(Exception):
    """A dry walk reached an action."""


class _HaltingActions(dict[str, Action]):
    def get(self, key: str, default: Any = None) -> Action:
        return _halt


def _halt(call: ActionCall) -> ActionResult:
    raise _Halted(call.name)


_HALT = _HaltingActions()


def replace_actions(engine: Engine, actions: Mapping[str, Action]) -> Engine:
    """The same engine (graph, texts, caches) with other actions: a cheap shallow copy."""
    twin = copy.copy(engine)
    twin.actions = actions  # type: ignore[assignment]
    return twin
