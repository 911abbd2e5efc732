"""Where alerts go: states and their localities from ``config/areas.yaml``.

A subscription, a leader's scope and a broadcast all name areas by code. A state
covers its localities: someone subscribed to Khartoum State hears an alert for
Omdurman, and an alert for the whole state reaches Omdurman's subscribers, so
``reach`` gives every code whose subscribers an alert for some areas concerns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from hotline.errors import SpecError
from hotline.normalize import words

AREAS_FILE = Path(__file__).resolve().parents[1] / "config" / "areas.yaml"
CODE = re.compile(r"^[A-Z]{2}-[A-Z]{2,3}$")


@dataclass(frozen=True)
class Area:
    code: str
    names: Mapping[str, str]  # language -> name
    parent: str | None = None

    def name(self, lang: str | None) -> str:
        return self.names.get(lang or "", self.names.get("en", self.code))


@dataclass(frozen=True)
class Areas:
    """All areas in file order; states first, each followed by nothing (localities apart)."""

    by_code: Mapping[str, Area]

    def states(self) -> list[Area]:
        return [a for a in self.by_code.values() if a.parent is None]

    def localities(self, state: str) -> list[Area]:
        return [a for a in self.by_code.values() if a.parent == state]

    def get(self, code: str) -> Area | None:
        return self.by_code.get(code)

    def reach(self, codes: Iterable[str]) -> set[str]:
        """Subscription codes an alert for ``codes`` reaches: each, its state, its localities."""
        found: set[str] = set()
        for code in codes:
            area = self.by_code.get(code)
            if area is None:
                continue
            found.add(code)
            if area.parent:
                found.add(area.parent)
            found.update(a.code for a in self.localities(code))
        return found

    def find(self, typed: str) -> Area | None:
        """The area a person typed in an SMS: its code, or its name in any language."""
        wanted = words(typed)
        if not wanted:
            return None
        for area in self.by_code.values():
            if wanted == words(area.code) or any(wanted == words(n)
                                                     for n in area.names.values()):
                # A locality named like its state (Khartoum) is found as the state.
                return area
        return None

    def longest_name(self, lang: str) -> str:
        return max((a.name(lang) for a in self.by_code.values()), key=len)


def parse(data: object) -> tuple[Areas, list[str]]:
    """Areas and every problem in the file's data, never stopping at the first."""
    problems: list[str] = []
    found: dict[str, Area] = {}

    def add(raw: object, parent: str | None, where: str) -> None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("code"), str):
            problems.append(f"{where}: needs code, ar and en")
            return
        code = raw["code"]
        names = {k: v for k, v in raw.items() if k != "code" and isinstance(v, str) and v}
        if not CODE.match(code):
            problems.append(f"{where}: code {code!r} must look like SD-KH or KH-OMD")
        if code in found:
            problems.append(f"{where}: code {code} appears twice")
        if not {"ar", "en"} <= set(names):
            problems.append(f"{where}: {code} needs names in ar and en")
        found[code] = Area(code, names, parent)

    if not isinstance(data, Mapping):
        return Areas({}), ["config/areas.yaml: needs states: and localities:"]
    for i, raw in enumerate(data.get("states") or [], 1):
        add(raw, None, f"config/areas.yaml: state {i}")
    for state, items in (data.get("localities") or {}).items():
        if state not in found:
            problems.append(f"config/areas.yaml: localities of unknown state {state!r}")
            continue
        for i, raw in enumerate(items or [], 1):
            add(raw, state, f"config/areas.yaml: locality {i} of {state}")
    return Areas(found), problems


@cache
def read(path: Path = AREAS_FILE) -> tuple[Areas, list[str]]:
    """The configured areas and every problem of the file (``hotline check`` lists them)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        return Areas({}), [f"config/areas.yaml: cannot be read: {exc}".replace("\n", " ")]
    return parse(data)


def load(path: Path = AREAS_FILE) -> Areas:
    """The configured areas; a broken file stops start-up."""
    areas, problems = read(path)
    if problems:
        raise SpecError(problems)
    return areas
