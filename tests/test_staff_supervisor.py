"""Statistics and the CSV export: the numbers are right, the export is masked,
formula-safe and audited."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hotline.extensions import db
from hotline.models import AuditLog, CallbackRequest, Contact
from hotline.services import casework
from tests.staffkit import AR_PHONE, EN_PHONE, Staff, make_request, make_user, quick_hashing

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


@pytest.fixture()
def sue(app):
    make_user("ana@example.org", name="Ana")
    make_user("sue@example.org", role="supervisor", name="Sue")
    return Staff(app, "sue@example.org")


def work(staff_id: int) -> dict[str, int]:
    """Two open (one urgent Arabic, one breached), one resolved after a late first call."""
    ids = {"urgent": make_request(AR_PHONE, "danger", "ar", now=NOW - timedelta(minutes=10)),
           "late": make_request(EN_PHONE, "medical", "en", now=NOW - timedelta(days=9)),
           "done": make_request("+249955555555", "avrr", "en", now=NOW - timedelta(days=8))}
    casework.claim(ids["done"], staff_id, now=NOW - timedelta(days=1))
    casework.log_attempt(ids["done"], staff_id, "reached", now=NOW - timedelta(days=1))
    casework.resolve(ids["done"], staff_id, "referred", "avrr", now=NOW - timedelta(days=1))
    return ids


def table(page: str, caption: str) -> str:
    return page.split(f"<caption>{caption}</caption>")[1].split("</table>")[0]


def test_statistics_page_shows_open_work_breaches_median_and_outcomes(app, sue):
    work(sue.id)
    page = sue.html("/staff/stats")
    assert '<span class="n">2</span> open' in page
    assert '<span class="n">1</span> urgent' in page
    assert '<span class="n">1</span> past deadline, not yet called' in page
    assert '<span class="n">1</span> first calls after the deadline' in page
    assert "7 d" in page  # the one first call came 7 days after its request
    by_reason = table(page, "Open by reason")
    assert "Danger or exploitation" in by_reason and "Medical help" in by_reason
    assert "Going home" not in by_reason
    by_language = table(page, "Open by language")
    assert "Arabic" in by_language and "English" in by_language
    assert "Referred" in table(page, "Outcomes") and "AVRR" in table(page, "Referrals")


def test_statistics_period_limits_closed_work(app, sue):
    work(sue.id)
    page = sue.html("/staff/stats?period=7")
    assert "Referred" not in table(page, "Outcomes")  # that request came 8 days ago
    assert '<span class="n">2</span> open' in page  # open work is always all of it


@pytest.mark.parametrize("period", ["8", "", "all'--", "<script>"])
def test_a_bad_period_is_a_400(app, sue, period):
    response = sue.get(f"/staff/stats?period={period}")
    assert response.status_code == 400
    assert "<script>" not in response.get_data(as_text=True)


def export(staff: Staff, **filters) -> list[list[str]]:
    response = staff.post("/staff/export", {"status": "all", **filters}, page="/staff/stats")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="callbacks-')
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def flat_cells(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row]


def test_export_is_masked_and_audited(app, sue):
    work(sue.id)
    rows = export(sue)
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Reference", "Received", "Channel"] and "Phone (masked)" in header
    assert "ussd" not in flat_cells(body) and "USSD" in flat_cells(body)  # labels, not codes
    assert len(body) == 3
    flat = "\n".join(",".join(r) for r in rows)
    for phone in (AR_PHONE, EN_PHONE, "+249955555555"):
        assert phone not in flat
    phones = [r[header.index("Phone (masked)")] for r in body]
    assert "'+249 12* *** *89" in phones  # masked, and a leading + cannot start a formula
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "export_callbacks")).all()
    assert len(audit) == 1 and audit[0].staff_id == sue.id and "status=all" in audit[0].detail


def test_export_filters(app, sue):
    work(sue.id)
    rows = export(sue, language="ar")
    assert len(rows) == 2 and rows[1][rows[0].index("Reason")] == "Danger or exploitation"
    rows = export(sue, status="resolved")
    assert len(rows) == 2 and rows[1][rows[0].index("Referral")] == "AVRR"


def test_export_cells_cannot_run_as_spreadsheet_formulas(app, sue):
    request_id = make_request()
    row = db.session.get(CallbackRequest, request_id)
    row.outcome = "=HYPERLINK(\"http://x.y\")"
    row.language = "@SUM"
    db.session.get(Contact, row.contact_id).phone = "-2+3"
    db.session.commit()
    rows = export(sue)
    cells = [c for r in rows[1:] for c in r]
    assert all(not c.startswith(("=", "+", "-", "@")) for c in cells)
    assert "'=HYPERLINK(\"http://x.y\")" in cells and "'@SUM" in cells


@pytest.mark.parametrize("field,value", [("status", "nope"), ("reason", "x" * 500),
                                         ("channel", "<script>")])
def test_export_with_a_bad_filter_is_a_400_and_not_audited(app, sue, field, value):
    response = sue.post("/staff/export", {field: value}, page="/staff/stats")
    assert response.status_code == 400
    assert "<script>" not in response.get_data(as_text=True)
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "export_callbacks")) \
        is None


def test_export_needs_its_csrf_token(app, sue):
    assert sue.client.post("/staff/export", data={"status": "all"}).status_code == 400
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "export_callbacks")) \
        is None


# --- charts ------------------------------------------------------------------------------

def test_trends_count_days_lateness_attempts_and_staff_work(app, sue):
    from hotline.services.stats import statistics, trends

    work(sue.id)
    found = trends("Africa/Khartoum", now=NOW, since=NOW - timedelta(days=30))
    assert sum(found.per_day.values()) == 3
    assert {(reason, channel) for _day, reason, channel in found.per_day} == \
        {("danger", "ussd"), ("medical", "ussd"), ("avrr", "ussd")}
    assert found.agents == {"Sue": (1, 1)}
    numbers = statistics(now=NOW, since=NOW - timedelta(days=30))
    assert numbers.lateness["later"] == 1  # the first call came a week after the deadline
    assert numbers.lateness["waiting_late"] == 1 and numbers.lateness["on_time"] == 0
    assert sum(numbers.lateness.values()) == 2  # the urgent one's deadline has not passed
    assert numbers.attempts == {0: 2, 1: 1}
    only_ar = trends("Africa/Khartoum", now=NOW, since=NOW - timedelta(days=30),
                     where=[CallbackRequest.language == "ar"])
    assert sum(only_ar.per_day.values()) == 1 and only_ar.agents == {}


def test_two_staff_of_one_name_each_keep_their_own_work_in_the_statistics(app, sue):
    """Ahmed is a common name: the per-staff table tells the two apart by e-mail, and
    each row holds that person's own work (before, one row overwrote the other)."""
    first = make_user("ahmed.o@example.org", name="Ahmed")
    second = make_user("ahmed.k@example.org", name="Ahmed")
    work(first.id)
    request_id = make_request("+249966666666", "medical", "en", now=NOW - timedelta(days=3))
    for when in (timedelta(days=2), timedelta(days=1)):
        casework.claim(request_id, second.id, now=NOW - when)
        casework.log_attempt(request_id, second.id, "no_answer", now=NOW - when,
                             confirm_early=True)
    rows = table(sue.html("/staff/stats"), "Work per staff member")
    assert '<th scope="row">Ahmed (ahmed.o@example.org)</th><td class="num">1</td>' \
        '<td class="num">1</td>' in rows
    assert '<th scope="row">Ahmed (ahmed.k@example.org)</th><td class="num">2</td>' \
        '<td class="num">0</td>' in rows
    assert '<th scope="row">Ahmed</th>' not in rows


def test_the_statistics_page_draws_svg_charts_with_the_queue_filters(app, sue):
    work(sue.id)
    page = sue.html("/staff/stats?period=30")
    assert page.count("<svg") >= 6 and "<script" not in page.split("</header>")[1]
    assert "Requests per day by reason" in page and "First call against the deadline" in page
    assert "More than a day late" in page and "Sue" in page
    filtered = sue.html("/staff/stats?period=30&language=ar&reason=danger")
    assert '<span class="n">1</span> open' in filtered and 'value="ar" selected' in filtered
    sue.post("/staff/language", {"language": "ar"})
    arabic = sue.html("/staff/stats")
    assert 'direction="rtl"' in arabic and "الطلبات يوميًا حسب السبب" in arabic


@pytest.mark.parametrize("query", ["reason=nope", "channel=<script>", "language=" + "x" * 50])
def test_statistics_with_a_bad_filter_is_a_400(app, sue, query):
    response = sue.get(f"/staff/stats?{query}")
    assert response.status_code == 400 and "<script>" not in response.get_data(as_text=True)
