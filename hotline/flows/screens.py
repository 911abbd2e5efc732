"""Cutting text and options into USSD pages that fit a screen budget.

Each content key starts a page of its own (authors place page breaks); a key
too long for one screen is split between words, never inside one. Every page is
sized for the longest navigation line it may carry, so page numbers do not
depend on where the caller came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hotline.errors import ScreenTooLong
from hotline.textcodec import Budget


@dataclass(frozen=True)
class Layout:
    """Page bodies without the navigation line; options start on page ``options_from``."""

    pages: tuple[str, ...]
    options_from: int


def layout(chunks: Sequence[str], options: Sequence[str], navs: Sequence[str],
           budget: Budget, first_navs: Sequence[str] | None = None) -> Layout:
    """Cut text chunks, then option lines, into pages.

    ``navs`` are the navigation lines any page may carry; ``first_navs``, when
    given, those of the first page (the main menu has nothing to go back to).
    """
    pages: list[str] = []

    def fits(body: str, page: int | None = None) -> bool:
        index = len(pages) if page is None else page  # the page ``body`` would be
        lines = first_navs if first_navs is not None and index == 0 else navs
        return all(budget.fits(f"{body}\n{nav}" if nav else body) for nav in lines)

    for chunk in chunks:
        current = ""
        for line in chunk.split("\n"):
            for i, word in enumerate(line.split()):
                candidate = word if not current else current + ("\n" if i == 0 else " ") + word
                if fits(candidate):
                    current = candidate
                    continue
                if not current or not fits(word):
                    raise ScreenTooLong(f"{word[:30]!r} does not fit one screen")
                pages.append(current)
                current = word
        if current:
            pages.append(current)
    options_from = max(len(pages) - 1, 0)
    block = "\n".join(options)
    if options and pages and pages[-1] and not fits(f"{pages[-1]}\n{block}", len(pages) - 1) \
            and fits(block, len(pages)):
        pages.append("")  # a short list of choices stays together on a page of its own
        options_from = len(pages) - 1
    for i, line in enumerate(options):
        if pages and not pages[-1]:
            pages[-1] = line
            continue
        if pages and fits(f"{pages[-1]}\n{line}", len(pages) - 1):
            pages[-1] = f"{pages[-1]}\n{line}"
        elif fits(line):
            pages.append(line)
            options_from = len(pages) - 1 if i == 0 else options_from
        else:
            raise ScreenTooLong(f"option {line[:30]!r} does not fit one screen")
    return Layout(tuple(pages or [""]), options_from)


def with_hint(hint: str, body: str, nav: str, budget: Budget,
              options: Sequence[str] = ()) -> str:
    """The same screen with a hint on top; when that overflows, the hint in place of a
    menu's title (``options`` are the menu's option lines); else the screen unchanged.

    Never the hint alone: a caller who mistyped must still see where they are and
    what they may press (review N5: an Arabic hint plus its menu rarely fits in 70).
    """
    tail = f"\n{nav}" if nav else ""
    candidates = [f"{hint}\n{body}{tail}"]
    lines = body.splitlines()
    kept = [line for line in lines if line in options]
    if kept and len(kept) < len(lines):
        candidates.append("\n".join([hint, *kept]) + tail)
    return next((c for c in candidates if budget.fits(c)), body + tail)
