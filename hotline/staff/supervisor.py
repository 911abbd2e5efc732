"""Supervisor pages: the numbers, and the CSV export (masked numbers, no notes)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, render_template, request, stream_with_context
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from hotline.services.callback_policy import InvalidChoice, now_utc
from hotline.services.stats import Stats, Trends, matching, statistics, trends
from hotline.services.worklist import EXPORT_HEADER, export_rows, validate
from hotline.staff import bp, charts, i18n, labels, local_time
from hotline.staff.auth import requires
from hotline.staff.worklist import choices, filters_from

PERIODS = {"7": 7, "30": 30, "90": 90, "all": None}

# The CSV's column titles, and the label table of each column that holds a code.
HEADERS = {
    "ref": _l("Reference"), "created_at": _l("Received"), "channel": _l("Channel"),
    "reason": _l("Reason"), "language": _l("Language"), "priority": _l("Priority"),
    "status": _l("Status"), "phone": _l("Phone (masked)"), "safe_to_call": _l("Safe to call"),
    "safe_times": _l("Safe times"), "sms_ok": _l("SMS allowed"), "rings": _l("Missed calls"),
    "deadline_at": _l("Call before"), "first_attempt_at": _l("First call"),
    "attempts": _l("Attempts"), "breached": _l("First call late"), "outcome": _l("Outcome"),
    "referral": _l("Referral"), "closed_at": _l("Closed"), "claimed_by": _l("Held by"),
}
CODED = {"channel": labels.CHANNEL, "reason": labels.REASON, "language": labels.LANGUAGE,
         "priority": labels.PRIORITY, "status": labels.STATUS, "safe_to_call": labels.SAFE,
         "sms_ok": labels.YES_NO, "breached": labels.YES_NO, "outcome": labels.OUTCOME,
         "referral": labels.REFERRAL}


def readable(row: list[str]) -> list[str]:
    """A CSV row with each stored code replaced by its label in the page's language."""
    out = []
    for name, cell in zip(EXPORT_HEADER, row, strict=True):
        if name == "safe_times":
            out.append(" ".join(labels.label(labels.SAFE_TIMES, t) for t in cell.split()))
        elif name in CODED and cell:
            out.append(labels.label(CODED[name], cell))
        else:
            out.append(cell)
    return out


LATENESS_LABELS = {
    "on_time": _l("On time"), "late_1h": _l("Up to 1 hour late"),
    "late_4h": _l("1 to 4 hours late"), "late_1d": _l("4 to 24 hours late"),
    "later": _l("More than a day late"), "waiting_late": _l("Not called yet, past deadline"),
}


def _charts(numbers: Stats, trend: Trends) -> dict[str, Any]:
    """The SVG charts (and their table data) in the page's language and direction."""
    rtl = i18n.direction() == "rtl"
    number = format_decimal
    days = sorted({d for d, _reason, _channel in trend.per_day})
    if days:
        days = [days[0] + timedelta(days=n) for n in range((days[-1] - days[0]).days + 1)]

    def by(index: int, table: dict[str, Any]) -> list[tuple[str, dict]]:
        found: dict[Any, dict] = {}
        for key, n in trend.per_day.items():
            found.setdefault(key[index], {}).setdefault(key[0], 0)
            found[key[index]][key[0]] += n
        return [(labels.label(table, code), found[code]) for code in sorted(found)]

    def day(d: Any) -> str:
        return format_date(d, "d MMM")

    lateness = [(str(LATENESS_LABELS[code]), n) for code, n in numbers.lateness.items()]
    attempts = [(_("5 or more") if k >= 5 else number(k), n)
                for k, n in sorted(numbers.attempts.items())]
    agents = sorted(trend.agents.items(), key=lambda kv: -sum(kv[1]))
    return {
        "by_reason": charts.columns(days, by(1, labels.REASON), _("Requests per day by reason"),
                                    day, rtl, number),
        "by_channel": charts.columns(days, by(2, labels.CHANNEL),
                                     _("Requests per day by channel"), day, rtl, number),
        "lateness": charts.bars(lateness, _("First call against the deadline"), rtl, number),
        "lateness_rows": lateness,
        "attempts": charts.bars(attempts, _("Call attempts per request"), rtl, number),
        "attempts_rows": attempts,
        "agents": charts.bars([(name, a) for name, (a, _r) in agents],
                              _("Call attempts per staff member"), rtl, number),
        "agents_rows": agents,
    }


@bp.get("/stats")
@requires("supervisor")
def stats() -> Any:
    period = request.args.get("period", "30")
    if period not in PERIODS:
        return render_template("staff/error.html", code=400, title=_("Bad period"),
                               message=_("Choose one of the periods offered.")), 400
    try:
        filters = filters_from(request.args, page=False)
        validate(filters)
    except InvalidChoice as exc:
        return render_template("staff/error.html", code=400, title=_("Bad filter"),
                               message=str(exc)), 400
    days = PERIODS[period]
    now = now_utc()
    since = now - timedelta(days=days) if days else None
    where = matching(filters.reason, filters.language, filters.channel)
    numbers = statistics(now=now, since=since, where=where)
    trend = trends(str(current_app.config.get("TIMEZONE") or "Africa/Khartoum"), now=now,
                   since=since, where=where)
    return render_template("staff/stats.html", stats=numbers, period=period, periods=PERIODS,
                           choices=choices(), filters=filters, charts=_charts(numbers, trend),
                           chart=lambda rows, title: charts.bars(
                               rows, title, i18n.direction() == "rtl", format_decimal))


@bp.post("/export")
@requires("supervisor")
def export() -> Any:
    """Every request matching the filters as CSV; the export itself is audited."""
    try:
        filters = filters_from(request.form, page=False)
        rows = export_rows(filters, staff_id=current_user.id)
    except InvalidChoice as exc:
        return render_template("staff/error.html", code=400, title=_("Bad filter"),
                               message=str(exc)), 400

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        yield "\ufeff"  # a byte-order mark, so spreadsheets read Arabic as UTF-8
        writer.writerow([str(HEADERS[name]) for name in EXPORT_HEADER])
        next(rows)  # the codes' header
        for row in rows:
            writer.writerow(readable(row))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    stamp = local_time(datetime.now(UTC), "%Y%m%d-%H%M")
    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="callbacks-{stamp}.csv"'})
