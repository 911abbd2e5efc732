"""Content rules that budgets do not catch, for ``hotline check``.

They are about how a text shows on a basic phone, and come from reading the
screens in Arabic (content-review.md §2.3, §5 N4):

- A phone number is one run of digits in national format (``0912345678``, or a
  short code such as ``999``). Inside Arabic text each group of a spaced
  ``+249 91 234 5678`` becomes a run of its own, so the groups show in reverse
  order and the ``+`` jumps to the other end: a caller copying it dials a wrong
  number.
- Arabic text carries no Latin acronym. "MRRC" means nothing to an Arabic
  reader, and on a phone with a left-to-right base direction it splits the line.
- Arabic text puts no full stop right after a number ("قبل 15:00."): on a phone
  that lays the line out left to right the stop sticks to the number's other
  side, and in a reference or a phone number it reads as one more character.
- A config value is numbers (one value for every language) or words (one value
  per language): a shared value with letters in it would put English words on
  an Arabic screen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hotline.content import Catalog, Value, placeholders

PHONE_SUFFIXES = ("_number", "_hotline", "_phone")
NATIONAL_NUMBER = re.compile(r"0[0-9]{8,10}|[1-9][0-9]{2,5}")  # 0912345678, 999, 8797
SPACED_NUMBER = re.compile(r"\+\s?[0-9]|[0-9][ \u00a0][0-9]")
LATIN_ACRONYM = re.compile(r"(?<![A-Za-z])[A-Z]{2,}(?![A-Za-z])")
RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# A digit, or a placeholder the flow fills with digits at run time (the time we call
# before, the request's reference, a window's hours), right before a full stop.
STOP_AFTER_NUMBER = re.compile(r"(?:[0-9]|\{(?:until|ref|hours)\})\.(?=\s|$)")
WHERE = "config/defaults.toml [centre]"


def is_phone(name: str) -> bool:
    """Config keys named ``*_number``, ``*_hotline`` or ``*_phone`` hold phone numbers."""
    return name.endswith(PHONE_SUFFIXES)


def value_problems(values: Mapping[str, Value], catalog: Catalog) -> list[str]:
    """Numbers digits only and shared; words given for every language; used numbers set."""
    used = {name for lang in catalog.languages for key in catalog.keys(lang)
            for name in placeholders(catalog.text(lang, key))}
    problems = []
    for name, value in sorted(values.items()):
        if isinstance(value, Mapping):
            if is_phone(name):
                problems.append(f"{WHERE}: {name}: a phone number is one value for every "
                                "language, not one per language")
                continue
            for lang in catalog.languages:
                if not str(value.get(lang) or "").strip():
                    problems.append(f"{WHERE}: {name}: no value for language {lang!r}")
        elif is_phone(name):
            if value and not NATIONAL_NUMBER.fullmatch(str(value)):
                problems.append(f"{WHERE}: {name} = {value!r}: write phone numbers in national "
                                "format, digits only (0912345678 or a short code such as 999), "
                                "no spaces, no +249")
            elif not value and name in used:
                problems.append(f"{WHERE}: {name} is empty but texts show it")
        elif any(ch.isalpha() for ch in str(value)):
            problems.append(f"{WHERE}: {name} = {value!r} has words: give one value per "
                            "language, e.g. {en = \"...\", ar = \"...\"}")
    return problems


def text_problems(catalog: Catalog, values: Mapping[str, Value]) -> list[str]:
    """No spaced or ``+`` number written in a text (config numbers are checked once, in
    ``value_problems``); no Latin acronym in right-to-left text as shown with the
    configured values. Other placeholders stay as ``{name}``."""
    problems = []
    for lang in catalog.languages:
        for key in sorted(catalog.keys(lang)):
            text = catalog.render(lang, key, values)
            where = f"{catalog.source(lang, key)}: {key}"
            spaced = SPACED_NUMBER.search(catalog.text(lang, key))
            if spaced:
                problems.append(f"{where}: number with a space or + ({spaced.group()!r}): its "
                                "digit groups show reversed in right-to-left text")
            acronyms = LATIN_ACRONYM.findall(text) if RIGHT_TO_LEFT.search(text) else []
            if acronyms:
                problems.append(f"{where}: Latin acronym {', '.join(acronyms)} in right-to-left "
                                "text: write the name in the language itself")
            if RIGHT_TO_LEFT.search(text) and STOP_AFTER_NUMBER.search(text):
                problems.append(f"{where}: full stop right after a number in right-to-left "
                                "text: end the line there or go on without it")
    return problems


def problems(catalog: Catalog, values: Mapping[str, Value]) -> list[str]:
    return value_problems(values, catalog) + text_problems(catalog, values)
