"""``make mutants``' own parts: the services' shards share the work out evenly, and a
mutant's tests run fastest first. Neither is seen in a score; a broken one costs hours
(one core idle while the other works through a module) or, worse, a shard that skips
mutants and reports a score over fewer of them."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.mutants.order import fastest_first
from tests.mutants.run import shards

NAMES = [f"hotline.services.{module}.x_{function}__mutmut_{n}"
         for module, function, count in (("ussd", "record_end", 37),
                                          ("caller_requests", "submit", 265),
                                          ("casework", "claim", 9))
         for n in range(1, count + 1)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 10])
def test_every_mutant_falls_in_exactly_one_shard_and_shards_are_even(count: int) -> None:
    patterns = shards(count)
    assert len(patterns) == count
    for name in NAMES:
        assert sum(fnmatch.fnmatch(name, p) for p in patterns) == 1, name
    sizes = [sum(fnmatch.fnmatch(n, p) for n in NAMES) for p in patterns]
    assert max(sizes) - min(sizes) <= len(NAMES) // 10 + 1, sizes
    # each function's mutants are shared out too, not left to one shard
    submit = [n for n in NAMES if ".x_submit__" in n]
    assert all(any(fnmatch.fnmatch(n, p) for n in submit) for p in patterns)


def test_more_shards_than_digits_are_not_made() -> None:
    assert len(shards(12)) == 10
    assert shards(0) == shards(1) == ["hotline.services.*__mutmut_*[0123456789]"]


@dataclass
class Item:
    nodeid: str


def _stats(tmp_path: Path, durations: dict[str, float]) -> Path:
    stats = tmp_path / "mutmut-stats.json"
    stats.write_text(json.dumps({"duration_by_test": durations,
                                 "tests_by_mangled_function_name": {}}))
    return stats


def test_a_mutants_tests_run_fastest_first_and_unknown_ones_last(tmp_path: Path) -> None:
    stats = _stats(tmp_path, {"t.py::slow": 2.0, "t.py::fast": 0.01, "t.py::mid": 0.3})
    items = [Item("t.py::slow"), Item("t.py::new"), Item("t.py::fast"), Item("t.py::mid")]
    fastest_first(items, "hotline.services.ussd.x_busy__mutmut_3", stats)
    assert [i.nodeid for i in items] == ["t.py::fast", "t.py::mid", "t.py::slow", "t.py::new"]


@pytest.mark.parametrize("mutant", ["", "stats", "fail", "mutant_generation"])
def test_outside_a_mutant_the_order_is_left_alone(tmp_path: Path, mutant: str) -> None:
    stats = _stats(tmp_path, {"t.py::b": 2.0, "t.py::a": 0.01})
    items = [Item("t.py::b"), Item("t.py::a")]
    fastest_first(items, mutant, stats)
    assert [i.nodeid for i in items] == ["t.py::b", "t.py::a"]


def test_without_mutmuts_durations_the_order_is_left_alone(tmp_path: Path) -> None:
    items = [Item("t.py::b"), Item("t.py::a")]
    fastest_first(items, "m.x_f__mutmut_1", tmp_path / "missing.json")
    assert [i.nodeid for i in items] == ["t.py::b", "t.py::a"]
