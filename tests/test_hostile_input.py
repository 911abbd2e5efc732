"""Every hostile input gets a 4xx (or a normal answer), never a 500: one hypothesis test per
route family, on every form field and query parameter of every staff route and webhook.

Nothing here lists routes or fields by hand. Routes come from the app's URL map
(a route added later joins its family, and ``test_every_route_has_a_family``
fails for one that fits none); field names come from the ``name="..."`` of the
dashboard's templates and the names the views and webhooks read in their source.
Hypothesis runs derandomized (the same examples every run, in CI too), and each
example gets fresh data: a new callback request, held by the signed-in admin.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.services import casework
from tests.conftest import TOKEN
from tests.staffkit import Staff, make_request, make_user, quick_hashing, text_of

HOTLINE = Path(__file__).resolve().parents[1] / "hotline"
FAMILIES = {  # family -> path prefixes (the longest matching prefix wins)
    "sign-in": ("/staff/login", "/staff/logout", "/staff/account"),
    "queue": ("/", "/staff/", "/staff/stats", "/staff/export"),  # "/" only sends to the queue
    "requests": ("/staff/requests/",),
    "staff accounts": ("/staff/users",),
    "oversight": ("/staff/audit", "/staff/reveals"),
    "simulator": ("/staff/try",),
    "webhooks": ("/webhooks/",),
    "health": ("/healthz", "/readyz"),
    "static": ("/staff/static/",),
}
EXAMPLES = 15  # per family; each example tries every route of the family
CLASSIC = ["\x00", "a\x00b", "9" * 20, "2147483648", "-1", "x" * 10_000,
           "<script>alert(1)</script>"]
HOSTILE = st.one_of(
    st.sampled_from([*CLASSIC, "' OR 1=1 --", "0", "1e309", "NaN", "-0", "١٢٣", "+249912345678",
                     "\u202ex", "../../etc/passwd", "2026-02-30", "9999-12-31", "all", "open",
                     "admin", "yes", "reached", "approve", "\ufffd"]),
    st.text(max_size=20).map(lambda t: t + "\x00"),  # NUL: PostgreSQL refuses it in text
    st.text(max_size=40),
    st.integers(min_value=5000, max_value=20000).map(lambda n: "9" * n),
)


def family_of(rule: str) -> str | None:
    best = max(((prefix, name) for name, prefixes in FAMILIES.items() for prefix in prefixes
                if rule in (prefix, prefix.rstrip("/"))
                or (prefix != "/" and rule.startswith(prefix))),
               default=None, key=lambda pair: len(pair[0]))
    return best[1] if best else None


def _field_names() -> list[str]:
    """What forms send and views read: template inputs and names used in the sources."""
    names: set[str] = set()
    for template in (HOTLINE / "staff" / "templates").rglob("*.html"):
        names.update(re.findall(r'\bname="([A-Za-z_][A-Za-z0-9_]*)"', template.read_text()))
    for source in [*(HOTLINE / "staff").glob("*.py"), *(HOTLINE / "webhooks").glob("*.py"),
                   HOTLINE / "services" / "ussd.py"]:
        text = source.read_text()
        names.update(re.findall(r'(?:args|form|values|fields|data)\.get\("([A-Za-z_]\w*)"', text))
        names.update(re.findall(r'fields\["([A-Za-z_]\w*)"\]', text))
        names.update(re.findall(r'_value\(fields, "([A-Za-z_]\w*)"\)', text))
        names.update(re.findall(r'_text\(args, "([A-Za-z_]\w*)"', text))
        names.update(re.findall(r'_day\(args, "([A-Za-z_]\w*)"', text))
        names.update(re.findall(r'number\("([A-Za-z_]\w*)"\)', text))
    return sorted(names - {"csrf_token"})


FIELDS = _field_names()


def _macro_fields(name: str) -> set[str]:
    """The fields a form macro of ``_ui.html`` adds (its ``select('…'`` and ``name="…"``)."""
    ui = (HOTLINE / "staff" / "templates" / "staff" / "_ui.html").read_text()
    body = ui.split(f"{{% macro {name}(", 1)[1].split("{%- endmacro %}", 1)[0]
    return set(re.findall(r"select\('([A-Za-z_]\w*)'", body)) \
        | set(re.findall(r'\bname="([A-Za-z_]\w*)"', body))


FILTER_FIELDS = _macro_fields("filter_fields")


def _form_fields() -> dict[str, set[str]]:
    """endpoint -> the fields of the dashboard forms that send to it (filters included)."""
    found: dict[str, set[str]] = {}
    for template in (HOTLINE / "staff" / "templates").rglob("*.html"):
        for form in re.findall(r"<form\b.*?</form>", template.read_text(), flags=re.S):
            target = re.search(r"url_for\('([\w.]+)'", form)
            if target:
                found.setdefault(target.group(1), set()).update(
                    re.findall(r'\bname="([A-Za-z_]\w*)"', form),
                    re.findall(r"ui\.select\('([A-Za-z_]\w*)'", form),  # the macro's name=""
                    FILTER_FIELDS if "ui.filter_fields(" in form else ())
    return found


FORMS = _form_fields()


def test_the_forms_are_found():
    assert {"email", "password", "next"} <= FORMS["staff.login"]
    assert {"status", "reason", "language", "channel"} <= FORMS["staff.queue"]
    assert {"result", "note"} <= FORMS["staff.attempt"]


def test_the_field_names_are_found():
    expected = {"email", "password", "code", "note", "result", "outcome", "staff_id", "status",
                "page", "decision", "action", "since", "sessionId", "phoneNumber", "text",
                "callerNumber", "hopsCount", "token", "next", "period"}
    assert expected <= set(FIELDS), expected - set(FIELDS)


def routes(app, family: str) -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) of every route in ``family``."""
    return sorted((rule.rule, method, rule.endpoint) for rule in app.url_map.iter_rules()
                  if family_of(rule.rule) == family
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def test_every_route_has_a_family(app):
    orphans = [rule.rule for rule in app.url_map.iter_rules()
               if rule.endpoint != "static" and family_of(rule.rule) is None]
    assert orphans == []
    for family in FAMILIES:
        assert routes(app, family), family


@pytest.fixture()
def hostile(app, make_app):
    """An admin signed in on an app whose limits do not stop the examples early."""
    big = make_app(CALLBACKS={"max_claims": 10_000, "reveals_per_hour": 10_000})
    with big.app_context():
        admin = make_user("admin@example.org", role="admin", name="Admin")
        make_user("ana@example.org", name="Ana")
        yield big, Staff(big, "admin@example.org"), admin.id


def _url(rule: str, ids: dict[str, str]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: ids.get(m.group(1), "1"), rule)


@st.composite
def attack(draw, endpoint: str):
    """Hostile values for one route: a path id, form fields and query parameters.

    One field its own forms send is hostile and the others are left out, so a
    field checked early cannot hide one checked later; a few names from anywhere
    else come along, in the form and in the query string.
    """
    path_id = draw(st.one_of(st.none(), st.sampled_from(
        ["0", "1", "2147483647", "2147483648", "99999999999999999999", "-1"])))
    own = sorted(FORMS.get(endpoint, set()) - {"csrf_token"})
    fields = {draw(st.sampled_from(own)): draw(HOSTILE)} if own else {}
    fields.update(draw(st.dictionaries(st.sampled_from(FIELDS), HOSTILE, max_size=2)))
    query = draw(st.dictionaries(st.sampled_from(FIELDS), HOSTILE, max_size=3))
    return path_id, fields, query


def _send(client, method: str, url: str, fields: dict, query: dict, **extra):
    return client.open(url, method=method, query_string=query,
                       data=fields if method != "GET" else None, **extra)


def _check(response) -> None:
    body = text_of(response)
    response.close()
    assert response.status_code < 500, (response.status_code, body[:500])
    assert "Traceback" not in body and "<script>alert(1)</script>" not in body


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


def _staff_family(family: str):
    @SETTINGS
    @given(data=st.data())
    def run(hostile, data) -> None:
        app, admin, _ = hostile
        for rule, method, endpoint in routes(app, family):
            request_id = make_request(phone=f"+2499123{data.draw(st.integers(10000, 99999))}")
            casework.claim(request_id, admin.id)  # fresh data: a request the admin holds
            path_id, fields, query = data.draw(attack(endpoint))
            url = _url(rule, {"request_id": path_id or str(request_id),
                              "user_id": path_id or str(admin.id),
                              "approval_id": path_id or "1", "filename": "staff.css"})
            if method == "GET":
                response = admin.client.get(url, query_string={**query, **fields})
            elif rule.startswith("/staff/try/"):
                response = admin.client.post(url, json=data.draw(JSON_BODY),
                                             headers={"X-CSRFToken": admin.token("/staff/try")})
            else:
                token = admin.token("/staff/account")
                response = _send(admin.client, method, url, {**fields, "csrf_token": token},
                                 query)
            _check(response)
            signed_in_again(app, admin)

    run.__name__ = f"test_hostile_{family.replace(' ', '_').replace('-', '_')}"
    return run


JSON_BODY = st.dictionaries(
    st.sampled_from(["dial", "lang", "network", "input"]),
    st.one_of(HOSTILE, st.booleans(), st.none(), st.integers(), st.lists(HOSTILE, max_size=2),
              st.dictionaries(HOSTILE, HOSTILE, max_size=2)), max_size=4)


def signed_in_again(app, admin: Staff) -> None:
    """After a hostile form signed the admin out (or changed them), a fresh sign-in."""
    if admin.client.get("/staff/").status_code != 200:
        admin.client = app.test_client()
        admin.id = make_user_again(app, admin)
        admin.sign_in()


def make_user_again(app, admin: Staff) -> int:
    """The admin as the database has it now (a hostile form may have renamed or locked it)."""
    from hotline.extensions import db
    from hotline.staff import passwords, users
    from tests.staffkit import PASSWORD

    user = users.find(admin.email)
    user.password_hash = passwords.hash_password(PASSWORD)
    user.active, user.role, user.locked_until, user.failed_logins = True, "admin", None, 0
    user.must_change_password = False
    user.totp_enabled_at = user.totp_secret = None
    db.session.commit()
    return user.id


test_hostile_sign_in = _staff_family("sign-in")
test_hostile_queue = _staff_family("queue")
test_hostile_requests = _staff_family("requests")
test_hostile_staff_accounts = _staff_family("staff accounts")
test_hostile_oversight = _staff_family("oversight")
test_hostile_simulator = _staff_family("simulator")
test_hostile_static = _staff_family("static")


@SETTINGS
@given(data=st.data())
def test_hostile_webhooks(app, data):
    """Well-formed gateway posts with some fields made hostile; mostly with the right token,
    so the hostile values reach the code behind it."""
    client = app.test_client()
    for rule, method, endpoint in routes(app, "webhooks"):
        _, fields, query = data.draw(attack(endpoint))
        good = {"sessionId": f"ATUid_{data.draw(st.integers(1, 10**9))}",
                "serviceCode": "*384*1234#", "phoneNumber": "+249912345678",
                "networkCode": "63401", "text": "", "status": "Success", "isActive": "1",
                "callerNumber": "+249912345678", "direction": "Inbound"}
        if data.draw(st.integers(0, 4)):
            query = {**query, "token": TOKEN}
        _check(_send(client, method, rule, {**good, **fields}, query))


@SETTINGS
@given(data=st.data())
def test_hostile_health(app, data):
    client = app.test_client()
    for rule, method, endpoint in routes(app, "health"):
        _, fields, query = data.draw(attack(endpoint))
        _check(_send(client, method, rule, fields, query))


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("webhooks", "health")])
def test_every_field_alone_with_the_classic_hostile_values(hostile, family):
    """Besides the random mixes: each field of each form, alone, with each classic value."""
    app, admin, _ = hostile
    for rule, method, endpoint in routes(app, family):
        for name in sorted(FORMS.get(endpoint, set()) - {"csrf_token"}):
            for value in CLASSIC:
                request_id = make_request()
                casework.claim(request_id, admin.id)  # so the holder's forms go deep
                if method == "GET":
                    response = admin.client.get(_url(rule, {"request_id": str(request_id)}),
                                                query_string={name: value})
                else:
                    response = _send(admin.client, method,
                                     _url(rule, {"request_id": str(request_id)}),
                                     {name: value, "csrf_token": admin.token("/staff/account")},
                                     {})
                _check(response)
                signed_in_again(app, admin)


@pytest.mark.parametrize("field,value", [("sessionId", "A" * 101), ("hopsCount", "9" * 11),
                                         ("hopsCount", "2147483648"), ("durationInMillis", "١٢")])
def test_the_events_webhook_named_in_the_issue(app, client, field, value):
    data = {"sessionId": "ATUid_1", "status": "Success", "phoneNumber": "+249912345678",
            field: value}
    response = client.post(f"/webhooks/at/ussd/events?token={TOKEN}", data=data)
    assert response.status_code in (200, 400), text_of(response)


def test_anonymous_hostile_sign_in_never_500s(app, client):
    """The sign-in form before anyone is signed in, with the classic NUL byte."""
    make_user("ana@example.org")
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      text_of(client.get("/staff/login"))).group(1)
    for email, password, status in (("ana\x00@example.org", "x", 400), ("\x00", "", 400),
                                    ("ana@example.org", "x\x00y", 400),
                                    ("a" * 10_000, "x", 200)):
        response = client.post("/staff/login", data={"email": email, "password": password,
                                                     "csrf_token": token})
        assert response.status_code == status, email[:20]
        assert "could not be understood" in text_of(response) or status == 200
    assert client.get("/staff/login?next=%00").status_code == 400


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)
