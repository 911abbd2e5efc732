"""Flow files as frozen data, with every structural problem reported at load.

Node ids are qualified by file: node ``topics`` of ``awareness.yaml`` is
``awareness.topics``, and the bare file name ``awareness`` means its ``start``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

KINDS = {"menu", "message", "input", "action", "end", "choose"}
NODE_FIELDS = {
    "menu": {"kind", "text", "options", "multilingual", "private"},
    "message": {"kind", "text", "options", "next", "private"},
    "input": {"kind", "text", "input", "save", "next", "private"},
    "action": {"kind", "action", "args", "next", "routes", "private"},
    "end": {"kind", "text", "private"},
    "choose": {"kind", "text", "choices", "save", "next", "private"},
}
INPUT_TYPES = {"digits", "text"}
MAIN = "main"


@dataclass(frozen=True)
class Option:
    label: str
    next: str
    set: Mapping[str, str] = field(default_factory=dict)
    when: str | None = None  # shown only when this session variable is set


@dataclass(frozen=True)
class Node:
    id: str
    kind: str
    source: str
    text: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    next: str | None = None
    routes: Mapping[str, str] = field(default_factory=dict)
    action: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    input_type: str = "text"
    min_len: int = 1
    max_len: int = 20
    save: str | None = None
    multilingual: bool = False
    # A session that reaches a private node keeps no trace of its path: the choice that
    # led here (e.g. "not safe to call") must not be tied to the caller's number.
    private: bool = False
    choices: str | None = None  # a choose node: the named list its options come from

    @property
    def targets(self) -> list[str]:
        return [o.next for o in self.options] + ([self.next] if self.next else []) + \
            list(self.routes.values())


@dataclass(frozen=True)
class Graph:
    nodes: Mapping[str, Node]
    start: str
    home: str

    def __getitem__(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def content_keys(self) -> dict[str, str]:
        """Every content key a flow names, with the node that names it."""
        used: dict[str, str] = {}
        for node in self.nodes.values():
            for key in node.text + tuple(o.label for o in node.options):
                used.setdefault(key, node.id)
        return used

    def variables(self) -> set[str]:
        names: set[str] = set()
        for node in self.nodes.values():
            names.update(k for o in node.options for k in o.set)
            # ``when`` variables too: ``hotline check`` then measures menus with such
            # options shown (a leader's main menu), the longest a caller can see.
            names.update(o.when for o in node.options if o.when)
            if node.save:
                names.add(node.save)
        return names


def _as_keys(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _node(stem: str, name: str, raw: Any, where: str, problems: list[str]) -> Node | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping")
        return None
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        problems.append(f"{where}: kind must be one of {sorted(KINDS)}, got {kind!r}")
        return None
    for extra in sorted(set(raw) - NODE_FIELDS[kind]):
        problems.append(f"{where}: unknown field {extra!r} for {_a(kind)}")
    text = _as_keys(raw.get("text"))
    if text is None:
        problems.append(f"{where}: text must be a content key or a list of them")
        text = ()
    if kind in {"message", "input", "end"} and not text:
        problems.append(f"{where}: {_a(kind)} needs text")
    options: list[Option] = []
    raw_options = raw.get("options", [])
    if not isinstance(raw_options, list):
        problems.append(f"{where}: options must be a list")
        raw_options = []
    for i, opt in enumerate(raw_options, 1):
        if not isinstance(opt, Mapping) or not isinstance(opt.get("label"), str) \
                or not isinstance(opt.get("next"), str):
            problems.append(f"{where}: option {i} needs label and next")
            continue
        sets = opt.get("set", {})
        if not isinstance(sets, Mapping) or not all(isinstance(v, str) for v in sets.values()):
            problems.append(f"{where}: option {i}: set must map names to text")
            sets = {}
        for extra in sorted(set(opt) - {"label", "next", "set", "when"}):
            problems.append(f"{where}: option {i}: unknown field {extra!r}")
        when = opt.get("when")
        if when is not None and not isinstance(when, str):
            problems.append(f"{where}: option {i}: when must name a variable")
            when = None
        options.append(Option(opt["label"], opt["next"], MappingProxyType(dict(sets)), when))
    if kind == "menu" and not options:
        problems.append(f"{where}: a menu needs options")
    routes = raw.get("routes", {})
    if not isinstance(routes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in routes.items()):
        problems.append(f"{where}: routes must map outcomes to nodes")
        routes = {}
    nxt = raw.get("next")
    if nxt is not None and not isinstance(nxt, str):
        problems.append(f"{where}: next must be a node name")
        nxt = None
    if kind in {"input", "action", "choose"} and not nxt and not routes:
        problems.append(f"{where}: dead end: {_a(kind)} needs next" +
                        (" or routes" if kind == "action" else ""))
    spec = raw.get("input", {}) if kind == "input" else {}
    if not isinstance(spec, Mapping) or spec.get("type", "text") not in INPUT_TYPES:
        problems.append(f"{where}: input.type must be one of {sorted(INPUT_TYPES)}")
        spec = {}
    if kind in {"input", "choose"} and not isinstance(raw.get("save"), str):
        problems.append(f"{where}: a{'n' if kind == 'input' else ''} {kind} needs save: "
                        "<variable>")
    if kind == "choose" and not isinstance(raw.get("choices"), str):
        problems.append(f"{where}: a choose needs choices: <list name>")
    if kind == "action" and not isinstance(raw.get("action"), str):
        problems.append(f"{where}: an action needs action: <name>")
    args = raw.get("args", {})
    if not isinstance(args, Mapping):
        problems.append(f"{where}: args must be a mapping")
        args = {}
    min_len, max_len = _bounds(spec, where, problems)
    return Node(
        id=f"{stem}.{name}", kind=kind, source=where, text=text, options=tuple(options),
        next=nxt, routes=MappingProxyType(dict(routes)), action=_text(raw, "action"),
        args=MappingProxyType(dict(args)), input_type=spec.get("type", "text"),
        min_len=min_len, max_len=max_len,
        save=_text(raw, "save"), multilingual=_flag(raw, "multilingual", where, problems),
        private=_flag(raw, "private", where, problems),
        choices=raw.get("choices") if kind == "choose" else None,
    )


def _a(kind: str) -> str:
    """"an input", "a menu": messages a content writer reads should read well."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    """A name field, or None when it is not text (already reported where it is required)."""
    value = raw.get(name)
    return value if isinstance(value, str) else None


def _flag(raw: Mapping[str, Any], name: str, where: str, problems: list[str]) -> bool:
    """A yes/no field: only YAML true or false. ``"no"`` in quotes is text, and text is
    truthy; reading it as true would show a screen nobody asked for."""
    value = raw.get(name, False)
    if not isinstance(value, bool):
        problems.append(f"{where}: {name} must be true or false, got {value!r}")
        return False
    return value


def _bounds(spec: Mapping[str, Any], where: str, problems: list[str]) -> tuple[int, int]:
    """``input: {min, max}``: whole numbers of characters, 1 <= min <= max <= 160."""
    found = []
    for key, default in (("min", 1), ("max", 20)):
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 160:
            problems.append(f"{where}: input.{key} must be a whole number from 1 to 160, "
                            f"got {value!r}")
            value = default
        found.append(value)
    if found[0] > found[1]:
        problems.append(f"{where}: input.min {found[0]} is more than input.max {found[1]}")
    return found[0], found[1]


def _resolve(ref: str, stem: str, nodes: Mapping[str, Node], starts: Mapping[str, str]
             ) -> str | None:
    for candidate in (f"{stem}.{ref}", ref):
        if candidate in nodes:
            return candidate
    return starts.get(ref)


def load_graph(root: Path) -> tuple[Graph | None, list[str]]:
    """Load every ``*.yaml`` in ``root``; returns the graph and every problem found."""
    problems: list[str] = []
    nodes: dict[str, Node] = {}
    starts: dict[str, str] = {}
    raw_refs: list[tuple[str, str]] = []  # (node id, file stem)
    home = start = None
    for path in sorted(root.glob("*.yaml")):
        stem, rel = path.stem, f"flows/{path.name}"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: cannot be read: {exc}".replace("\n", " "))
            continue
        if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), Mapping):
            problems.append(f"{rel}: needs a mapping with nodes:")
            continue
        for extra in sorted(set(data) - {"start", "home", "nodes"}):
            problems.append(f"{rel}: unknown field {extra!r}")
        for name, raw in data["nodes"].items():
            node = _node(stem, str(name), raw, f"{rel}: node {name}", problems)
            if node:
                nodes[node.id] = node
                raw_refs.append((node.id, stem))
        if not isinstance(data.get("start"), str) or data["start"] not in data["nodes"]:
            problems.append(f"{rel}: start {data.get('start')!r} is not a node of this file")
        else:
            starts[stem] = f"{stem}.{data['start']}"
        if stem == MAIN:
            start = starts.get(stem)
            if not isinstance(data.get("home"), str) or data["home"] not in data["nodes"]:
                problems.append(f"{rel}: home {data.get('home')!r} is not a node of this file")
            else:
                home = f"{stem}.{data['home']}"
    if "main" not in starts and not any(p.startswith("flows/main.yaml") for p in problems):
        problems.append("flows/main.yaml: missing (it holds start and home)")
    resolved: dict[str, Node] = {}
    for node_id, stem in raw_refs:
        node = nodes[node_id]

        def fix(ref: str, node: Node = node, stem: str = stem) -> str:
            target = _resolve(ref, stem, nodes, starts)
            if target is None:
                problems.append(f"{node.source}: unknown node {ref!r}")
                return ref
            return target

        resolved[node_id] = Node(**{
            **node.__dict__,
            "options": tuple(Option(o.label, fix(o.next), o.set, o.when) for o in node.options),
            "next": fix(node.next) if node.next else None,
            "routes": MappingProxyType({k: fix(v) for k, v in node.routes.items()}),
        })
    if start and home:
        seen, todo = set(), [start, home]
        while todo:
            nid = todo.pop()
            if nid in seen or nid not in resolved:
                continue
            seen.add(nid)
            todo.extend(resolved[nid].targets)
        for nid in sorted(set(resolved) - seen):
            problems.append(f"{resolved[nid].source}: unreachable from the main menu")
    if not start or not home:
        return None, problems
    return Graph(MappingProxyType(resolved), start, home), problems
