"""Charts for the statistics page as server-rendered SVG: no script, nothing fetched,
so the content security policy stays ``default-src 'self'``.

Colours are SVG presentation attributes (allowed by the policy, unlike inline
``style``); labels are SVG text, mirrored for right-to-left pages so bars grow
from the reading side. Every chart has a text alternative next to it (a table).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup, escape

PALETTE = ("#0a6ebd", "#a4262c", "#1e6b3a", "#8a5300", "#6a3d9a", "#00838f", "#5b6874",
           "#c2185b")
ROW = 30
WIDTH = 640  # per-day columns
BARS_WIDTH = 400  # bar charts sit in a third of the page: a narrower canvas keeps text legible


def _text(x: float, y: float, text: str, anchor: str, cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{css}>'
            f"{escape(text)}</text>")


def _open(height: int, title: str, rtl: bool, width: int = WIDTH) -> str:
    direction = ' direction="rtl"' if rtl else ""
    return (f'<svg class="chart-svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}"{direction}>')


def bars(rows: Sequence[tuple[str, int]], title: str, rtl: bool = False,
         number: Callable[[int], str] = str) -> Markup:
    """Horizontal bars, one row per (label, count), longest first as given."""
    if not rows:
        return Markup("")
    top = max(n for _label, n in rows) or 1
    label_w, value_w = 180, 45
    span = BARS_WIDTH - label_w - value_w
    height = ROW * len(rows) + 6
    parts = [_open(height, title, rtl, BARS_WIDTH)]
    for i, (label, n) in enumerate(rows):
        y = i * ROW + 4
        length = span * n / top
        if rtl:
            parts.append(_text(BARS_WIDTH - 4, y + 19, label, "start"))
            x = BARS_WIDTH - label_w - length
            parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{length:.1f}" height="18" '
                         f'fill="{PALETTE[0]}"/>')
            parts.append(_text(x - 6, y + 19, number(n), "start", "value"))
        else:
            parts.append(_text(4, y + 19, label, "start"))
            parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="18" '
                         f'fill="{PALETTE[0]}"/>')
            parts.append(_text(label_w + length + 6, y + 19, number(n), "start", "value"))
    parts.append("</svg>")  # under direction=rtl, text-anchor "start" is the right edge
    return Markup("".join(parts))


def columns(days: Sequence[date], series: Sequence[tuple[str, dict[date, int]]], title: str,
            day_label: Callable[[date], str], rtl: bool = False,
            number: Callable[[int], str] = str) -> Markup:
    """Requests per day, stacked by series (a reason or a channel), oldest day at the
    reading start; the legend names each colour.

    Each day's label and each count are formatted once: formatting for the page's
    language (Babel) costs about as much as the rest of the chart together.
    """
    if not days:
        return Markup("")
    day_text = {day: escape(day_label(day)) for day in days}
    said: dict[int, str] = {}

    def count(n: int) -> str:
        if n not in said:
            said[n] = number(n)
        return said[n]

    totals = [sum(values.get(d, 0) for _name, values in series) for d in days]
    top = max(totals) or 1
    chart_h, axis_h, legend_h = 180, 24, 22 * ((len(series) + 2) // 3)
    step = (WIDTH - 50) / len(days)
    height = chart_h + axis_h + legend_h + 10
    parts = [_open(height, title, rtl)]

    def x_of(i: int) -> float:
        left = 40 + i * step
        return WIDTH - left - step if rtl else left

    # what is the same for every column of a series is formatted once
    width = f'" width="{max(step - 2, 1):.1f}" height="'
    fills = [(f'" fill="{PALETTE[k % len(PALETTE)]}"><title>', f": {escape(name)} ", values)
             for k, (name, values) in enumerate(series)]
    for i, day in enumerate(days):
        y = chart_h
        x = f'<rect x="{x_of(i) + 1:.1f}" y="'
        label = day_text[day]
        for fill, name_text, values in fills:
            n = values.get(day, 0)
            if not n:
                continue
            h = chart_h * n / top
            y -= h
            parts.append(f"{x}{y:.1f}{width}{h:.1f}{fill}{label}{name_text}{count(n)}"
                         "</title></rect>")
    axis_x = WIDTH - 4 if rtl else 4
    parts.append(_text(axis_x, 14, number(top), "start", "axis"))
    parts.append(f'<line x1="0" x2="{WIDTH}" y1="{chart_h}" y2="{chart_h}" stroke="#9aa6b1"/>')
    parts.append(_text(x_of(0) + (step if rtl else 0), chart_h + 18, day_label(days[0]),
                       "start", "axis"))
    if len(days) > 1:
        parts.append(_text(x_of(len(days) - 1) + (0 if rtl else step), chart_h + 18,
                           day_label(days[-1]), "end", "axis"))
    for k, (name, _values) in enumerate(series):
        col, row = k % 3, k // 3
        y = chart_h + axis_h + 8 + row * 22
        x = (WIDTH - 8 - col * 210) if rtl else 8 + col * 210
        box = x - 12 if rtl else x
        parts.append(f'<rect x="{box}" y="{y}" width="12" height="12" '
                     f'fill="{PALETTE[k % len(PALETTE)]}"/>')
        parts.append(_text(x - 18 if rtl else x + 18, y + 11, name, "start"))
    parts.append("</svg>")
    return Markup("".join(parts))
