"""Supervisor pages: the numbers, and the CSV export (masked numbers, no notes)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, render_template, request, stream_with_context
from flask_login import current_user

from hotline.services.callbacks import InvalidChoice
from hotline.services.queue import export_rows
from hotline.services.stats import statistics
from hotline.staff import bp, local_time
from hotline.staff.auth import requires
from hotline.staff.queue import choices, filters_from

PERIODS = {"7": 7, "30": 30, "90": 90, "all": None}


@bp.get("/stats")
@requires("supervisor")
def stats() -> Any:
    period = request.args.get("period", "30")
    if period not in PERIODS:
        return render_template("staff/error.html", code=400, title="Bad period",
                               message=f"Period must be one of {', '.join(PERIODS)}."), 400
    days = PERIODS[period]
    now = datetime.now(UTC)
    numbers = statistics(now=now, since=now - timedelta(days=days) if days else None)
    return render_template("staff/stats.html", stats=numbers, period=period, periods=PERIODS,
                           choices=choices())


@bp.post("/export")
@requires("supervisor")
def export() -> Any:
    """Every request matching the filters as CSV; the export itself is audited."""
    try:
        filters = filters_from(request.form, page=False)
        rows = export_rows(filters, staff_id=current_user.id)
    except InvalidChoice as exc:
        return render_template("staff/error.html", code=400, title="Bad filter",
                               message=str(exc)), 400

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        yield "\ufeff"  # a byte-order mark, so spreadsheets read Arabic as UTF-8
        for row in rows:
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    stamp = local_time(datetime.now(UTC), "%Y%m%d-%H%M")
    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="callbacks-{stamp}.csv"'})
