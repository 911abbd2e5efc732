"""Who may reach what: every staff route needs a sign-in, and roles are enforced.

The routes are found by walking the app's URL map, so a page added later is
covered without anyone remembering to add it here.
"""

import re

import pytest

from hotline.staff import PUBLIC
from tests.staffkit import Staff, make_request, make_user, quick_hashing, text_of

SUPERVISOR_ONLY = {"staff.stats", "staff.export", "staff.reassign"}
ADMIN_ONLY = {"staff.staff_users", "staff.create_user", "staff.user_page", "staff.update_user",
              "staff.reset_password", "staff.unlock_user", "staff.audit_log"}


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    quick_hashing(monkeypatch)


def staff_routes(app, request_id: int = 1, user_id: int = 1) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every /staff/ route, with these ids filled in."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff"):
            continue
        url = rule.rule.replace("<int:request_id>", str(request_id)) \
            .replace("<int:user_id>", str(user_id)).replace("<path:filename>", "staff.css")
        url = re.sub(r"<int:\w+>", "1", url)  # other ids (leaders, alerts): the first row
        url = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", url)  # the first of the choices
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url))
    return found


def test_the_walk_finds_the_dashboard(app):
    endpoints = {endpoint for endpoint, _, _ in staff_routes(app)}
    assert {"staff.queue", "staff.request_page", "staff.claim", "staff.reveal", "staff.attempt",
            "staff.resolve", "staff.try_service", "staff.try_step"} <= endpoints
    assert SUPERVISOR_ONLY | ADMIN_ONLY <= endpoints
    assert len(endpoints) >= 20


def test_only_the_sign_in_page_and_static_files_are_public(app):
    assert PUBLIC == {"staff.login", "staff.static"}


def test_every_staff_route_refuses_anonymous_visitors(app, client):
    admin = make_user("admin@example.org", role="admin")
    checked = 0
    for endpoint, method, url in staff_routes(app, make_request(), admin.id):
        if endpoint in PUBLIC:
            continue
        response = client.open(url, method=method, data={"x": "1"})
        assert response.status_code in (302, 303, 401, 403), (method, url, response.status_code)
        if response.status_code in (302, 303):
            assert response.location.startswith("/staff/login"), (method, url)
        assert "+249912345678" not in text_of(response)
        checked += 1
    assert checked >= 20


def test_anonymous_json_calls_get_401_not_a_page(app, client):
    response = client.post("/staff/try/step", json={"dial": True})
    assert response.status_code == 401 and response.is_json


def test_a_get_redirect_remembers_where_the_visitor_was_going(app, client):
    response = client.get("/staff/stats?period=7")
    assert response.status_code == 303
    assert response.location == "/staff/login?next=/staff/stats?period%3D7"


@pytest.mark.parametrize("role,forbidden", [
    ("agent", SUPERVISOR_ONLY | ADMIN_ONLY),
    ("supervisor", ADMIN_ONLY),
])
def test_roles_below_a_page_get_403_with_a_valid_form(app, role, forbidden):
    admin = make_user("admin@example.org", role="admin")
    make_user("someone@example.org", role=role)
    person = Staff(app, "someone@example.org")
    seen = set()
    for endpoint, method, url in staff_routes(app, make_request(), admin.id):
        if endpoint not in forbidden:
            continue
        if method == "GET":
            response = person.get(url)
        else:
            response = person.post(url, {"staff_id": str(person.id), "role": "admin",
                                         "active": "yes",
                                         "email": "x@example.org", "status": "all"})
        assert response.status_code == 403, (role, method, url, response.status_code)
        assert "Your role does not allow" in text_of(response)
        seen.add(endpoint)
    assert seen == forbidden
    # nothing changed behind the refusals
    from hotline.staff import users

    assert users.find("someone@example.org").role == role
    assert users.find("x@example.org") is None


@pytest.mark.parametrize("role,links,hidden", [
    ("agent", ["Queue", "Try the service"], ["Statistics", "Audit log", ">Staff<"]),
    ("supervisor", ["Queue", "Statistics"], ["Audit log", ">Staff<"]),
    ("admin", ["Queue", "Statistics", "Audit log", ">Staff<"], []),
])
def test_the_menu_shows_only_what_the_role_may_open(app, role, links, hidden):
    make_user("someone@example.org", role=role)
    page = Staff(app, "someone@example.org").html("/staff/")
    for link in links:
        assert link in page
    for link in hidden:
        assert link not in page


def test_static_files_are_served_by_the_app_without_a_sign_in(app, client):
    for name, kind in (("staff.css", "text/css"), ("queue.js", "javascript"),
                       ("simulator.js", "javascript"), ("favicon.svg", "image/svg+xml")):
        with client.get(f"/staff/static/{name}") as response:
            assert response.status_code == 200 and kind in response.content_type, name
            assert response.data
    assert client.get("/staff/static/../app.py").status_code == 404
    assert client.get("/staff/static/%2e%2e/app.py").status_code == 404


def test_pages_load_nothing_from_elsewhere(app):
    make_user("admin@example.org", role="admin")
    admin = Staff(app, "admin@example.org")
    pages = [admin.html(path) for path in ("/staff/", "/staff/stats", "/staff/users",
                                           "/staff/try", "/staff/audit", "/staff/account")]
    for path, page in zip(("queue", "stats", "users", "try", "audit", "account", "login"),
                          [*pages, text_of(app.test_client().get("/staff/login"))],
                          strict=True):
        assert "http://" not in page and "https://" not in page, path
        assert "<script>" not in page and " style=" not in page and "onclick" not in page


def test_every_state_changing_route_needs_the_csrf_token(app):
    make_user("admin@example.org", role="admin")
    admin = Staff(app, "admin@example.org")
    posts = [(endpoint, url) for endpoint, method, url
             in staff_routes(app, make_request(), admin.id) if method != "GET"]
    assert len(posts) >= 13
    for endpoint, url in posts:
        if endpoint == "staff.try_step":
            response = admin.client.post(url, json={"dial": True})
        else:
            response = admin.client.post(url, data={"email": "x@example.org", "role": "admin",
                                                     "result": "reached",
                                                     "staff_id": str(admin.id)})
        assert response.status_code == 400, (url, response.status_code)
    from hotline.staff import users

    assert users.find("x@example.org") is None
    assert admin.get("/staff/").status_code == 200  # the refused logout did not sign out
