"""A service's refusal reaches a staff page in the reader's language, never as raised.

The services (``hotline.services``) import no Flask: they raise a ``CodedError`` whose
``code`` names the refusal and whose message is English, for the logs. The dashboard shows
``hotline.staff.labels.error(exc)``, the label of that code. These tests walk every
exception a staff view catches and every place one is raised, so a new refusal without a
label fails here, and drive each refusal of the inbox, casework, worklist filters and
reveal approvals in Arabic to see the Arabic label and not the English.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from hotline.errors import CodedError, HotlineError
from hotline.extensions import db
from hotline.models import InboundSms, RevealApproval, StaffUser
from hotline.services import callback_policy, inbox
from hotline.staff import labels
from tests.smskit import Texter
from tests.staffkit import (
    AR_PHONE,
    EN_PHONE,
    Staff,
    make_request,
    make_user,
    quick_hashing,
    text_of,
)
from tests.test_errors import hotline_exceptions
from tests.test_staff_i18n import latin_words, visible_text

HOTLINE = Path(__file__).resolve().parents[1] / "hotline"
LABELS = {**labels.ALERT_ERROR, **labels.SERVICE_ERROR}
# Raised with a text already marked for translation (``N_``) or translated where it is
# raised (a view's own ``_``): shown through gettext, no code needed.
MARKED = {"N_", "_", "gettext"}


def _dotted(node: ast.expr) -> str:
    return ast.unparse(node)


def caught_by_views() -> set[type[HotlineError]]:
    """Every ``HotlineError`` (and its subclasses) named in an ``except`` of a staff view,
    including the tuples a view names (``except ERRORS``)."""
    hotline_exceptions()  # imports every module, so every subclass exists
    caught: set[type[HotlineError]] = set()
    for path in sorted((HOTLINE / "staff").glob("*.py")):
        module = __import__(f"hotline.staff.{path.stem}", fromlist=["_"])
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ExceptHandler) or node.type is None:
                continue
            value = eval(_dotted(node.type), vars(module))  # names the module already has
            for cls in value if isinstance(value, tuple) else (value,):
                if isinstance(cls, type) and issubclass(cls, HotlineError):
                    caught.add(cls)
    pending = list(caught)
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in caught:
                caught.add(sub)
                pending.append(sub)
    return caught


def raise_sites(names: set[str]) -> list[tuple[str, int, str, ast.Call]]:
    """Every ``raise Name(...)`` in the package for the given class names (both branches of
    a ``raise A(...) if ... else B(...)``), with the file and line."""
    found = []
    for path in sorted(HOTLINE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            options = [node.exc.body, node.exc.orelse] if isinstance(node.exc, ast.IfExp) \
                else [node.exc]
            for call in options:
                if isinstance(call, ast.Call):
                    name = _dotted(call.func).rsplit(".", 1)[-1]
                    if name in names:
                        found.append((str(path.relative_to(HOTLINE)), node.lineno, name, call))
    return found


def code_given(cls: type, call: ast.Call) -> str | None:
    """The code a raise gives: ``code=``/``problem=``, else the argument the class takes
    it from (InvalidChoice: the problem, third; a plain CodedError: the second), else
    the class's own; None when the text is marked for translation where it is raised."""
    for keyword in call.keywords:
        if keyword.arg in ("code", "problem") and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    first = call.args[0] if call.args else None
    while isinstance(first, ast.Call) and _dotted(first.func) == "str" and first.args:
        first = first.args[0]
    if isinstance(first, ast.Call) and _dotted(first.func) in MARKED:
        return None
    if isinstance(first, ast.Attribute) and first.attr == "template":
        return None  # a ``Said``'s template: marked with N_ where the Said is made
    position = 2 if issubclass(cls, callback_policy.InvalidChoice) else \
        1 if issubclass(cls, CodedError) and "__init__" not in vars(cls) else None
    if position is not None and len(call.args) > position \
            and isinstance(call.args[position], ast.Constant):
        return str(call.args[position].value)
    return getattr(cls, "code", "")


def test_every_refusal_a_staff_view_catches_has_a_label_in_both_languages():
    caught = caught_by_views()
    names = {c.__module__ + "." + c.__qualname__ for c in caught}
    # the walk finds what the views catch (inbox, casework, reveals, users, alerts)
    assert {"hotline.services.inbox.InboxError", "hotline.services.inbox.MessageNotFound",
            "hotline.services.callback_policy.InvalidChoice",
            "hotline.services.callback_policy.UnknownStaff",
            "hotline.services.reveals.ApprovalError", "hotline.services.reveals.ClaimLimit",
            "hotline.services.leaders.LeaderError", "hotline.staff.users.UserError"} <= names
    by_name = {c.__name__: c for c in caught}
    sites = raise_sites(set(by_name))
    assert len(sites) >= 40, len(sites)
    unsaid = []
    for where, line, name, call in sites:
        code = code_given(by_name[name], call)
        if code is not None and code not in LABELS:
            unsaid.append(f"{where}:{line} {name} code={code!r}")
    assert unsaid == [], "a refusal a page would show raw (add a label in " \
        "hotline/staff/labels.py and its Arabic): " + "; ".join(unsaid)


def test_the_services_stay_free_of_flask_babel():
    """The labels live in the dashboard; the services raise codes and English."""
    for path in (HOTLINE / "services").glob("*.py"):
        assert "flask_babel" not in path.read_text(), path.name


def test_the_two_tables_of_refusals_share_no_code():
    assert set(labels.ALERT_ERROR).isdisjoint(labels.SERVICE_ERROR)


def test_a_coded_refusal_reads_in_the_page_language_with_its_values_labelled(app):
    closed = callback_policy.RequestClosed("K3", "resolved")
    handled = inbox.InboxError("This text is already dismissed.", "text_handled",
                               state="dismissed")
    with app.test_request_context(), force_locale("ar"):
        assert labels.error(closed) == "حالة هذا الطلب الآن: مُنجَز."
        assert labels.error(handled) == "سبق التعامل مع هذه الرسالة (صُرف النظر عنها)."
    with app.test_request_context(), force_locale("en"):
        assert labels.error(closed) == "This request is already Resolved."
        assert labels.error(handled) == "This text is already handled (Dismissed)."
        # no label: shown as raised, so nothing is hidden (and the walk above fails)
        assert labels.error(inbox.InboxError("Something new.", "nope")) == "Something new."


# --- each refusal, driven in Arabic ------------------------------------------------------

@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def arabic(app, email: str, role: str = "agent") -> Staff:
    make_user(email, role=role, name="سلمى")
    staff = Staff(app, email)
    assert staff.post("/staff/language", {"language": "ar"}).status_code in (302, 303)
    return staff


def refusal(response, status: int, arabic_text: str, english: str) -> str:
    text = visible_text(text_of(response))
    assert response.status_code == status, (response.status_code, text[:300])
    assert arabic_text in text, text[:600]
    assert english not in text
    return text


def texted(client, phone: str, body: str) -> int:
    assert Texter(client, phone=phone).send(body) == 200
    db.session.expire_all()
    return db.session.scalars(sa.select(InboundSms.id).order_by(InboundSms.id.desc())).first()


def test_the_inbox_refusals_read_in_arabic(app, client):
    salma = arabic(app, "salma@example.org")
    first = texted(client, AR_PHONE, "مرحبا")
    page = f"/staff/inbox/{first}"
    refusal(salma.post(f"{page}/reply", {"body": "  "}, page=page), 400,
            "اكتب ردا أولا.", "Write a reply first")
    long = refusal(salma.post(f"{page}/reply", {"body": "ب" * 202}, page=page), 400,
                   "يحتاج الرد 4 رسائل نصية، والحد الأقصى 3. اختصره.", "SMS parts")
    assert "ب" * 202 in long  # the draft is kept
    assert salma.post(f"{page}/reply", {"body": "سنتصل بك."}, page=page).status_code == 303
    refusal(salma.post(f"{page}/reply", {"body": "مرة أخرى"}, page=page), 400,
            "تم الرد على هذه الرسالة من قبل.", "already answered")
    refusal(salma.post(f"{page}/dismiss", page=page), 409,
            "سبق التعامل مع هذه الرسالة (تم الرد عليها).", "already answered")
    second = texted(client, EN_PHONE, "hello")
    page = f"/staff/inbox/{second}"
    assert salma.post(f"{page}/dismiss", page=page).status_code == 303
    refusal(salma.post(f"{page}/reply", {"body": "Hi"}, page=page), 400,
            "صُرف النظر عن هذه الرسالة: لا يمكن الرد عليها.", "dismissed")
    refusal(salma.post(f"{page}/request", page=page), 409,
            "لا تتحول إلى طلب إلا رسالة جديدة.", "Only a new text")
    third = texted(client, "+249912000001", "my papers were taken")
    page = f"/staff/inbox/{third}"
    assert salma.post(f"{page}/request", page=page).status_code == 303
    refusal(salma.post(f"{page}/request", page=page), 409,
            "هذه الرسالة مضافة إلى طلب من قبل.", "already on a request")
    text = refusal(salma.get("/staff/inbox?status=bogus"), 400,
                   "اختر إحدى الحالات المعروضة", "status must be")
    assert latin_words(text, (labels.UI_LANGUAGE["en"],)) == []


@pytest.mark.parametrize(("path", "said", "english"), [
    ("/staff/?reason=bogus", "اختر أحد الخيارات المعروضة (السبب)", "must be one of"),
    ("/staff/?channel=fax", "اختر أحد الخيارات المعروضة (القناة)", "must be one of"),
    ("/staff/?page=abc", "الصفحة: عدد صحيح من 1 إلى", "whole number"),
    ("/staff/stats?language=" + "x" * 12, "اختر أحد الخيارات المعروضة (اللغة)", "language"),
])
def test_a_refused_worklist_filter_reads_in_arabic(app, path, said, english):
    salma = arabic(app, "salma@example.org", role="supervisor")
    text = refusal(salma.get(path), 400, said, english)
    assert latin_words(text, (labels.UI_LANGUAGE["en"],)) == []


def test_a_refused_export_filter_reads_in_arabic(app):
    salma = arabic(app, "salma@example.org", role="supervisor")
    refusal(salma.post("/staff/export", {"reason": "bogus"}, page="/staff/stats"), 400,
            "اختر أحد الخيارات المعروضة (السبب)", "must be one of")


def test_casework_refusals_read_in_arabic(app):
    salma = arabic(app, "salma@example.org", role="supervisor")
    make_user("gone@example.org", name="Gone")
    gone = db.session.scalars(sa.select(StaffUser).where(
        StaffUser.email == "gone@example.org")).one()
    gone.active = False
    db.session.commit()
    request_id = make_request(AR_PHONE, language="ar")
    page = f"/staff/requests/{request_id}"
    refusal(salma.post(f"{page}/reassign", {"staff_id": str(gone.id)}, page=page), 400,
            "هذا الموظف غير موجود أو حسابه غير مفعّل.", "no active staff")
    refusal(salma.post(f"{page}/reopen", {"reason": "again"}, page=page), 400,
            "هذا الطلب مفتوح أصلا؛ فلا حاجة إلى إعادة فتحه.", "open already")
    refusal(salma.post(f"{page}/reveal", page=page), 403,
            "تولَّ هذا الطلب أولًا", "Claim this request")


def test_reveal_approval_refusals_read_in_arabic(app):
    salma = arabic(app, "salma@example.org", role="supervisor")
    request_id = make_request(AR_PHONE)
    refusal(salma.post("/staff/reveals/999999", {"decision": "approve"}, page="/staff/reveals"),
            409, "طلب الموافقة هذا غير موجود.", "no such request")
    approval = RevealApproval(staff_id=salma.id, request_id=request_id, status="pending")
    db.session.add(approval)
    db.session.commit()
    refusal(salma.post(f"/staff/reveals/{approval.id}", {"decision": "approve"},
                       page="/staff/reveals"),
            409, "يجب أن يوافق عليها شخص آخر", "Someone else")
    approval.status = "refused"
    db.session.commit()
    refusal(salma.post(f"/staff/reveals/{approval.id}", {"decision": "approve"},
                       page="/staff/reveals"),
            409, "سبق البتّ في طلب الموافقة هذا.", "already decided")


def test_the_simulator_asks_to_sign_in_in_the_readers_language(client):
    """The simulator's script shows the JSON ``error`` on the page as it comes."""
    for language, said in (("ar", "سجّل الدخول أولا."), ("en", "Sign in first.")):
        response = client.post("/staff/try/step", json={"dial": True},
                               headers={"Accept-Language": language})
        assert response.status_code == 401 and response.get_json() == {"error": said}


# --- the "Sent messages" page: labels, not the stored status and kind ---------------------

def test_every_outbox_status_and_kind_has_a_label():
    from hotline.services.outbox_log import STATUSES

    assert set(STATUSES) <= set(labels.OUTBOX_STATUS)
    kinds = set()
    for path in sorted(HOTLINE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _dotted(node.func).endswith("queue_sms"):
                kinds |= {k.value.value for k in node.keywords if k.arg == "kind"
                          and isinstance(k.value, ast.Constant)}
    kinds.add("alert")  # the broadcast's fan-out writes its rows in one INSERT
    assert len(kinds) >= 8 and kinds <= set(labels.OUTBOX_KIND), kinds - set(labels.OUTBOX_KIND)


def test_the_sent_messages_page_in_arabic_shows_labels_not_codes(app):
    from hotline.services import outbox

    salma = arabic(app, "salma@example.org", role="supervisor")
    sent = outbox.queue_sms(db.session, to="+249900000001", body="تم استلام طلبك.",
                            language="ar", priority="reply", kind="confirmation",
                            idempotency_key="i18n-1")
    outbox.queue_sms(db.session, to="+249900000002", body="رد", language="ar",
                     priority="reply", kind="staff_reply", idempotency_key="i18n-2")
    db.session.commit()
    outbox.send(sent.id)  # the console gateway
    text = visible_text(salma.html("/staff/outbox"))
    for said in ("تأكيد الطلب", "رد من الموظفين", "في انتظار الإرسال", "أُرسلت إلى البوابة"):
        assert said in text, said
    for code in ("confirmation", "staff_reply", "queued", "sent", "suppressed"):
        assert code not in text, code
    filtered = visible_text(salma.html("/staff/outbox?status=failed"))
    assert "لا توجد رسائل بالحالة تعذّر إرسالها." in filtered
    assert "failed" not in filtered
