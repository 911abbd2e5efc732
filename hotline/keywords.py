"""SMS keywords: what a caller's text asks for, read from content in every language.

The words live in ``content/<lang>/smskeywords.yaml`` (comma-separated per
command) so staff can add a spelling without a release of code; the silent-exit
words come from settings, because they are chosen per deployment and must not be
advertised in any text. A message is a keyword only when the whole of it is the
word, after :func:`hotline.normalize.words`; anything else is for staff.
Pure: no Flask, database or Redis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hotline.content import REFERENCE_LANGUAGE, Catalog
from hotline.normalize import words
from hotline.textcodec import measure, sms_parts

COMMANDS = ("help", "info", "call", "stop", "start", "join")
JOIN = "join"  # the only keyword followed by more words: the area (issue 11)
KEYWORD_FILE = "smskeywords"
REPLY_FILE = "smsreply"
TOPIC_PREFIX = "sms.awareness."
MAX_TOPIC_DIGITS = 3
_SEPARATORS = re.compile("[,\u060c]")  # Latin and Arabic commas


@dataclass(frozen=True)
class Command:
    """What a text asks for; ``lang`` is the language of the word (None for digits)."""

    name: str  # help | info | call | stop | start | join | exit | topic
    lang: str | None = None
    topic: str | None = None  # the copy's key without "sms.", e.g. awareness.sea
    rest: str = ""  # what followed JOIN: the area as typed


def split_words(text: str) -> list[str]:
    return [w for w in (words(part) for part in _SEPARATORS.split(text)) if w]


class Keywords:
    """Every keyword of every language, and the numbered topics, looked up in one step."""

    def __init__(self, catalog: Catalog, silent_exit: Iterable[str] = ()) -> None:
        self.catalog = catalog
        self.table: dict[str, Command] = {}
        self.clashes: list[str] = []
        for lang in catalog.languages:
            for name in COMMANDS:
                key = f"{KEYWORD_FILE}.{name}"
                if catalog.has(lang, key):
                    for word in split_words(catalog.text(lang, key)):
                        self._add(word, Command(name, lang), f"content/{lang}: {key}")
        for word in silent_exit:
            for w in split_words(word):
                self._add(w, Command("exit"), "[sms] silent_exit")
        reference = catalog.texts.get(REFERENCE_LANGUAGE, {})
        self.topics = [k.removeprefix("sms.") for k in reference if k.startswith(TOPIC_PREFIX)]

    def _add(self, word: str, command: Command, where: str) -> None:
        seen = self.table.get(word)
        if seen is not None and seen.name != command.name:
            self.clashes.append(f"{where}: {word!r} already means {seen.name}")
            return
        if word.isdigit():
            self.clashes.append(f"{where}: {word!r} is a number, which chooses a topic")
            return
        self.table.setdefault(word, command)

    def match(self, text: str) -> Command | None:
        """The command the whole text is, or None (then it is a message for staff)."""
        word = words(text)
        if word.isascii() and word.isdigit() and len(word) <= MAX_TOPIC_DIGITS:
            number = int(word)
            if 1 <= number <= len(self.topics):
                return Command("topic", topic=self.topics[number - 1])
            return None
        found = self.table.get(word)
        if found is not None:
            return found
        return self._join(word)

    def _join(self, word: str) -> Command | None:
        """JOIN (or one of its words) followed by an area name or number."""
        for size in (2, 1):  # a two-word keyword first ("SIGN UP Omdurman")
            head, rest = " ".join(word.split()[:size]), " ".join(word.split()[size:])
            found = self.table.get(head)
            if found is not None and found.name == JOIN and rest:
                return Command(JOIN, found.lang, rest=rest)
        return None

    # --- replies ---------------------------------------------------------------------------

    def info(self, lang: str) -> str:
        """The INFO reply: a title, then one numbered line per topic, in sms.yaml order."""
        lines = [self.catalog.render(lang, f"{REPLY_FILE}.info_title")]
        for i, topic in enumerate(self.topics, 1):
            name = topic.rsplit(".", 1)[-1]
            lines.append(f"{i} {self.catalog.render(lang, f'{REPLY_FILE}.topic.{name}')}")
        return "\n".join(lines)

    def bilingual(self, key: str, first: str, values: Mapping[str, str] | None = None) -> str:
        """A reply for someone whose language we cannot tell: every language, ``first`` first."""
        langs = sorted(self.catalog.languages, key=lambda lg: lg != first)
        return "\n".join(self.catalog.render(lg, key, values) for lg in langs)

    def problems(self, values: Mapping[str, str], max_parts: int = 3) -> list[str]:
        """What ``hotline check`` adds for SMS: clashing words, missing topic names, and
        replies built from several texts (INFO, the bilingual help) over the SMS budget."""
        problems = list(self.clashes)
        for lang in self.catalog.languages:
            for topic in self.topics:
                key = f"{REPLY_FILE}.topic.{topic.rsplit('.', 1)[-1]}"
                if not self.catalog.has(lang, key):
                    problems.append(f"content/{lang}/{REPLY_FILE}.yaml: missing key {key} "
                                    f"(the name of topic {topic} in the INFO reply)")
        if problems:
            return problems
        built = {f"INFO ({lg})": self.info(lg) for lg in self.catalog.languages}
        built["bilingual unknown-text reply"] = self.bilingual(
            f"{REPLY_FILE}.unknown", REFERENCE_LANGUAGE, values)
        for what, text in built.items():
            if sms_parts(text) > max_parts:
                cost = measure(text)
                problems.append(f"content/*/{REPLY_FILE}.yaml: {what}: SMS of "
                                f"{sms_parts(text)} parts ({cost.units} {cost.encoding} "
                                f"characters); at most {max_parts}")
        return problems
