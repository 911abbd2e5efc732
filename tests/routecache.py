"""Every test builds its own app, and werkzeug compiles two URL builders per route for
each one: about 80 of the 90 ms ``create_app`` takes, for 65 routes. The builders of one
rule are the same code whichever app holds it (the generated function reads the rule's
converters through ``self`` when called), so the tests compile each once per process.

Only the tests use this; production builds its app once. If werkzeug changes the
private method, nothing is patched and the tests are only slower.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule


def install() -> None:
    original = getattr(Rule, "_compile_builder", None)
    if original is None or getattr(original, "cached", False) or \
            list(inspect.signature(original).parameters) != ["self", "append_unknown"]:
        return
    built: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}

    def compile_builder(self: Rule, append_unknown: bool = True
                        ) -> Callable[..., tuple[str, str]]:
        key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())),
               append_unknown)
        if key not in built:
            built[key] = original(self, append_unknown)
        return built[key]

    compile_builder.cached = True  # type: ignore[attr-defined]
    compile_builder.__wrapped__ = original  # type: ignore[attr-defined]
    Rule._compile_builder = compile_builder  # type: ignore[method-assign]
