"""The queue as staff see it: order, filters, masking, deadlines, export and statistics."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from hotline.extensions import db
from hotline.models import AuditLog, CallbackRequest, StaffUser
from hotline.services import caller_requests, casework
from hotline.services.callback_policy import InvalidChoice, RequestNotFound
from hotline.services.stats import statistics
from hotline.services.worklist import QueueFilter, export_rows, get_request, list_queue, safe_cell

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # Sunday 08:00 in Khartoum
PHONES = [f"+2499123456{i:02d}" for i in range(10)]


@pytest.fixture()
def amal(app) -> int:
    person = StaffUser(email="amal@mrrc.example", name="Amal", password_hash="x")
    db.session.add(person)
    db.session.commit()
    return person.id


def submit(i: int, reason: str, minutes: int, lang: str = "en", **kw) -> int:
    return caller_requests.submit(PHONES[i], reason=reason, safe_to_call=kw.pop("safe", "yes"),
                                  language=lang, now=T0 + timedelta(minutes=minutes),
                                  **kw).request_id


def test_urgent_first_then_oldest_and_phones_masked(app):
    normal_old = submit(0, "medical", 0)
    urgent_new = submit(1, "danger", 30, "ar")
    normal_new = submit(2, "info", 10)
    page = list_queue(QueueFilter(), now=T0 + timedelta(hours=1))
    assert [i.id for i in page.items] == [urgent_new, normal_old, normal_new]
    assert page.total == 3 and page.pages == 1
    for item, phone in zip(page.items, (PHONES[1], PHONES[0], PHONES[2]), strict=True):
        assert phone not in repr(item) and item.phone_masked.endswith(phone[-2:])
        assert "*" in item.phone_masked


def test_time_left_and_breach(app):
    urgent = submit(0, "danger", 0)  # deadline Sunday 10:00 local = 08:00 UTC
    item = list_queue(now=T0 + timedelta(minutes=90)).items[0]
    assert item.id == urgent and item.time_left == timedelta(minutes=30)
    assert item.working_time_left == timedelta(minutes=30) and not item.breached
    late = list_queue(now=T0 + timedelta(hours=3)).items[0]
    assert late.breached and late.time_left == -timedelta(hours=1)
    assert late.working_time_left == -timedelta(hours=1)


def test_time_left_freezes_at_the_first_attempt(app, amal):
    rid = submit(0, "danger", 0)
    casework.claim(rid, amal, now=T0 + timedelta(minutes=30))
    casework.log_attempt(rid, amal, "no_answer", now=T0 + timedelta(minutes=30))
    item = list_queue(now=T0 + timedelta(days=2)).items[0]
    assert item.time_left == timedelta(minutes=90) and not item.breached
    assert item.attempts == 1 and item.next_attempt_at == T0 + timedelta(minutes=60)


def test_claim_holder_is_visible_until_it_expires(app, amal):
    rid = submit(0, "medical", 0)
    casework.claim(rid, amal, now=T0)
    held = list_queue(now=T0 + timedelta(minutes=5)).items[0]
    assert (held.claimed_by, held.claimed_by_id) == ("Amal", amal)
    assert held.claim_expires_at == T0 + timedelta(minutes=15)
    expired = list_queue(now=T0 + timedelta(minutes=16)).items[0]
    assert expired.claimed_by is None and expired.claim_expires_at is None


def test_filters_and_paging(app, amal):
    ids = [submit(i, r, i, lang) for i, (r, lang) in enumerate(
        [("danger", "ar"), ("medical", "en"), ("medical", "ar"), ("avrr", "en"),
         ("other", "ar")])]
    caller_requests.record_ring(PHONES[7], now=T0)
    db.session.commit()
    casework.claim(ids[3], amal, now=T0)
    casework.resolve(ids[3], amal, "helped", "avrr", now=T0)
    assert list_queue(QueueFilter(reason="medical"), now=T0).total == 2
    assert list_queue(QueueFilter(language="ar"), now=T0).total == 3
    assert list_queue(QueueFilter(channel="missed_call"), now=T0).items[0].reason == "unknown"
    assert [i.id for i in list_queue(QueueFilter(status="resolved"), now=T0).items] == [ids[3]]
    assert list_queue(QueueFilter(status="all"), now=T0).total == 6
    first = list_queue(QueueFilter(per_page=2, page=1), now=T0)
    third = list_queue(QueueFilter(per_page=2, page=3), now=T0)
    assert first.total == 5 and first.pages == 3 and len(third.items) == 1
    newest = list_queue(QueueFilter(status="all", order="newest"), now=T0).items
    assert newest[-1].id == ids[0]


@pytest.mark.parametrize("bad", [
    QueueFilter(status="deleted"), QueueFilter(reason="'; DROP TABLE x; --"),
    QueueFilter(channel="fax"), QueueFilter(page=0), QueueFilter(per_page=0),
    QueueFilter(per_page=10_000), QueueFilter(page="2"),  # type: ignore[arg-type]
    QueueFilter(language="x" * 50), QueueFilter(order="random"),
])
def test_bad_filters_are_refused(app, bad):
    with pytest.raises(InvalidChoice):
        list_queue(bad)


def test_get_request_detail(app, amal):
    rid = submit(0, "danger", 0, sms_ok=True)
    casework.claim(rid, amal, now=T0)
    detail = get_request(rid, amal, now=T0)
    assert detail.held_by_viewer and detail.item.reason == "danger"
    assert detail.sms_confirmation and detail.item.ref in detail.sms_confirmation
    assert [(e.kind, e.staff) for e in detail.timeline] == [("created", None),
                                                            ("claimed", "Amal")]
    assert not get_request(rid, amal + 1, now=T0).held_by_viewer
    assert PHONES[0] not in repr(detail)
    with pytest.raises(RequestNotFound):
        get_request(123456)


def test_export_masks_neutralises_formulas_and_is_audited(app, amal):
    rid = submit(0, "danger", 0)
    casework.claim(rid, amal, now=T0)
    casework.resolve(rid, amal, "helped", "protection", "=HYPERLINK(\"http://x\")", now=T0)
    submit(1, "medical", 5)
    rows = list(export_rows(QueueFilter(status="all"), staff_id=amal, now=T0))
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    parsed = list(csv.reader(io.StringIO(text.getvalue())))
    assert parsed[0][0] == "ref" and "phone" in parsed[0] and len(parsed) == 3
    assert "note" not in parsed[0]
    assert all(PHONES[0] not in cell and PHONES[1] not in cell for r in parsed for cell in r)
    phone_col = parsed[0].index("phone")
    assert parsed[1][phone_col].startswith("'+249")
    assert "HYPERLINK" not in text.getvalue()  # notes are not exported
    audit = db.session.scalars(select(AuditLog)
                               .where(AuditLog.action == "export_callbacks")).one()
    assert (audit.action, audit.staff_id) == ("export_callbacks", amal)


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("plain", "plain"), (None, ""), (3, "3")])
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


def test_statistics(app, amal):
    a = submit(0, "danger", 0, "ar")
    b = submit(1, "medical", 0, "en")
    submit(2, "medical", 0, "ar")
    caller_requests.record_ring(PHONES[3], now=T0)
    db.session.commit()
    casework.claim(a, amal, now=T0 + timedelta(minutes=20))
    casework.log_attempt(a, amal, "reached", now=T0 + timedelta(minutes=20))
    casework.resolve(a, amal, "referred", "protection", now=T0 + timedelta(minutes=30))
    casework.claim(b, amal, now=T0 + timedelta(hours=1))
    casework.log_attempt(b, amal, "no_answer", now=T0 + timedelta(hours=1))
    stats = statistics(now=T0 + timedelta(days=1))
    assert stats.open_total == 3 and stats.open_urgent == 0
    assert stats.open_by_reason == {"medical": 2, "unknown": 1}
    assert stats.open_by_language == {"en": 1, "ar": 1, "unknown": 1}
    assert stats.open_breached == 2  # the untried medical request and the missed call
    assert stats.median_to_first_attempt == timedelta(minutes=40)
    assert stats.outcomes == {"referred": 1} and stats.referrals == {"protection": 1}
    assert stats.by_status == {"open": 3, "resolved": 1}
    assert stats.late_first_attempts == 0
    db.session.execute(update(CallbackRequest).where(CallbackRequest.id == b)
                       .values(deadline_at=T0))
    db.session.commit()
    assert statistics(now=T0).late_first_attempts == 1
    assert statistics(now=T0, since=T0 + timedelta(days=5)).by_status == {}


def test_empty_statistics(app):
    stats = statistics()
    assert stats.open_total == 0 and stats.median_to_first_attempt is None


def test_queue_page_is_two_queries(app, amal):
    for i in range(10):
        submit(i, "medical", i)
    from sqlalchemy import event

    statements: list[str] = []

    def count_statement(*args):
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count_statement)
    try:
        page = list_queue(QueueFilter(per_page=50), now=T0)
    finally:
        event.remove(db.engine, "before_cursor_execute", count_statement)
    assert len(page.items) == 10 and len(statements) == 2
    assert db.session.scalar(select(func.count()).select_from(CallbackRequest)) == 10
