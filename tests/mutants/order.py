"""The order of a mutant's tests under mutmut: fastest first.

mutmut runs a mutant's tests with ``-x`` and passes them in set order, so a killed
mutant costs however many tests happen to come before its first killing one; with the
quickest first it costs about its quickest killing test. Survivors run every test either
way. The durations are mutmut's own, from its first clean run (``mutmut-stats.json`` in
its copy, where the tests run), so nothing is measured twice.
"""

from __future__ import annotations

import json
from collections.abc import MutableSequence
from pathlib import Path
from typing import Protocol


class _Item(Protocol):
    nodeid: str


def fastest_first(items: MutableSequence[_Item], mutant: str,
                  stats: Path = Path("mutmut-stats.json")) -> None:
    """Sort ``items`` in place by mutmut's recorded duration, unknown tests last; only
    while a mutant is under test (mutmut's clean and statistics runs keep their order)."""
    if "__mutmut_" not in mutant or not stats.is_file():
        return
    durations = json.loads(stats.read_text(encoding="utf-8")).get("duration_by_test", {})
    items[:] = sorted(items, key=lambda item: durations.get(item.nodeid, float("inf")))
