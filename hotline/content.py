"""Text catalogs: one folder per language, same files, same keys, same placeholders.

A key is the file stem followed by the dotted path inside the file, so
``content/ar/awareness.yaml`` ``{smugglers: {title: ...}}`` is ``awareness.smugglers.title``.
Loading reports every problem at once; English is the reference language that
every other folder must match exactly.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hotline.textcodec import non_gsm7

KEY_SEGMENT = re.compile(r"^[a-z0-9_]+$")
REFERENCE_LANGUAGE = "en"


def placeholders(text: str) -> set[str]:
    """Names of the ``{name}`` fields in a text (``string.Formatter`` rules)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"<malformed braces>"}


Value = str | Mapping[str, str]
"""A config value shown in texts: one string for numbers, one per language for words."""


def localized(values: Mapping[str, Value], lang: str) -> dict[str, str]:
    """The values a text in ``lang`` shows: a centre's name or directions are words, so
    ``[centre]`` gives them per language (``{en = "...", ar = "..."}``) while numbers are
    one string for all. A language without its own value borrows the reference one rather
    than break a caller's screen; ``hotline check`` reports the gap."""
    return {name: (value.get(lang) or value.get(REFERENCE_LANGUAGE, "")
                   if isinstance(value, Mapping) else value)
            for name, value in values.items()}


class _Keep(dict[str, str]):
    """Leaves unknown placeholders visible rather than failing a caller's session."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Catalog:
    """All texts of all languages; ``languages`` keeps the folder order, reference first."""

    texts: Mapping[str, Mapping[str, str]]
    sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def has(self, lang: str, key: str) -> bool:
        return key in self.texts.get(lang, {})

    def text(self, lang: str, key: str) -> str:
        return self.texts[lang][key]

    def render(self, lang: str, key: str, values: Mapping[str, Value] | None = None) -> str:
        return self.texts[lang][key].format_map(_Keep(localized(values or {}, lang)))

    def keys(self, lang: str = REFERENCE_LANGUAGE) -> set[str]:
        return set(self.texts.get(lang, {}))

    def source(self, lang: str, key: str) -> str:
        return self.sources.get(lang, {}).get(key, f"content/{lang}")


def _flatten(prefix: str, node: object, rel: str, out: dict[str, str],
             problems: list[str]) -> None:
    if isinstance(node, Mapping):
        for k, v in node.items():
            if not isinstance(k, str | int) or not KEY_SEGMENT.match(str(k)):
                problems.append(f"{rel}: key {prefix}{k!r} must match [a-z0-9_]+")
                continue
            _flatten(f"{prefix}{k}.", v, rel, out, problems)
    elif isinstance(node, str):
        key = prefix[:-1]
        if not node.strip():
            problems.append(f"{rel}: {key}: empty text")
        elif node != node.strip():
            problems.append(f"{rel}: {key}: leading or trailing white space")
        out[key] = node
    else:
        problems.append(f"{rel}: {prefix[:-1]}: must be text, got {type(node).__name__}")


def load_catalog(root: Path, gsm7_languages: Iterable[str] = (REFERENCE_LANGUAGE,)
                 ) -> tuple[Catalog, list[str]]:
    """Load ``root/<lang>/*.yaml``; returns the catalog and every problem found."""
    problems: list[str] = []
    texts: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, str]] = {}
    files: dict[str, set[str]] = {}
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name) \
        if root.is_dir() else []
    folders.sort(key=lambda p: p.name != REFERENCE_LANGUAGE)
    for folder in folders:
        lang = folder.name
        texts[lang], sources[lang], files[lang] = {}, {}, set()
        for path in sorted(folder.glob("*.yaml")):
            rel = f"content/{lang}/{path.name}"
            files[lang].add(path.name)
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                problems.append(f"{rel}: cannot be read: {exc}".replace("\n", " "))
                continue
            flat: dict[str, str] = {}
            _flatten(path.stem + ".", data or {}, rel, flat, problems)
            texts[lang].update(flat)
            sources[lang].update(dict.fromkeys(flat, rel))
    if REFERENCE_LANGUAGE not in texts:
        problems.append(f"content/{REFERENCE_LANGUAGE}: the reference language folder is missing")
        return Catalog(texts, sources), problems
    ref = texts[REFERENCE_LANGUAGE]
    for lang, table in texts.items():
        for name in sorted(files[REFERENCE_LANGUAGE] - files[lang]):
            problems.append(f"content/{lang}/{name}: missing "
                            f"(exists in content/{REFERENCE_LANGUAGE})")
        for name in sorted(files[lang] - files[REFERENCE_LANGUAGE]):
            problems.append(f"content/{lang}/{name}: not in content/{REFERENCE_LANGUAGE}")
        if lang == REFERENCE_LANGUAGE:
            continue
        for key in sorted(set(ref) - set(table)):
            where = f"content/{lang}/{key.split('.', 1)[0]}.yaml"
            problems.append(f"{where}: missing key {key}")
        for key in sorted(set(table) - set(ref)):
            problems.append(f"{sources[lang][key]}: key {key} is not in "
                            f"content/{REFERENCE_LANGUAGE}")
        for key in sorted(set(ref) & set(table)):
            want, got = placeholders(ref[key]), placeholders(table[key])
            if want != got:
                problems.append(f"{sources[lang][key]}: {key}: placeholders {sorted(got)} "
                                f"differ from {REFERENCE_LANGUAGE} {sorted(want)}")
    for lang in gsm7_languages:
        for key, text in sorted(texts.get(lang, {}).items()):
            bad = non_gsm7(text)
            if bad:
                shown = ", ".join(f"{ch!r} U+{ord(ch):04X}" for ch in bad)
                problems.append(f"{sources[lang][key]}: {key}: characters that force UCS-2: "
                                f"{shown}")
    return Catalog(texts, sources), problems
