"""Every URL pattern of the project, walked as each kind of caller, against the declared table."""

from __future__ import annotations

import pytest

from tests.security.permissions import (
    PERMISSIONS,
    POST_ANSWERS,
    POST_DENIED_DEFAULT,
    PREFIX_PERMISSIONS,
    ROLES,
)
from tests.security.roles import make_actors, sample_values
from tests.security.walk import concrete, routes

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def answer(resp) -> str:
    """The response as one of the table's words."""
    code = resp.status_code
    if 200 <= code < 300:
        return "ok"
    if 300 <= code < 400:
        location = resp.get("Location", "")
        return "login" if any(p in location for p in LOGIN_PATHS) else "redirect"
    return str(code)


def matches(expected: str, got: str, status: int) -> bool:
    if expected == "ready":
        return status in (200, 503)
    if expected == "staff":
        return status < 500 and got != "login"
    return expected == got


def declared(route: str) -> dict[str, str] | None:
    if route in PERMISSIONS:
        return PERMISSIONS[route]
    return next((rule for prefix, rule in PREFIX_PERMISSIONS.items() if route.startswith(prefix)), None)


def test_every_url_pattern_is_declared_and_every_declaration_exists():
    found = {r.route for r in routes()}
    undeclared = sorted(r for r in found if declared(r) is None)
    assert not undeclared, f"declare these URLs in tests/security/permissions.py: {undeclared}"
    stale = sorted(set(PERMISSIONS) - found)
    assert not stale, f"these declared URLs no longer exist: {stale}"
    assert all(set(rule) == set(ROLES) for rule in [*PERMISSIONS.values(), *PREFIX_PERMISSIONS.values()])


@pytest.mark.django_db
def test_permission_walk(make_api_client, django_user_model):
    """Given a document owned by an API client and a user in each role, when each caller GETs
    every URL (and anonymous callers and auditors POST to it), each answer is the declared one."""
    actors = make_actors(make_api_client, django_user_model)
    values = sample_values(actors)
    wrong = []
    for route in routes():
        rule = declared(route.route)
        assert rule is not None, route.route
        url = concrete(route.route, values)
        for role in ROLES:
            resp = actors.clients[role].get(url)
            got = answer(resp)
            if not matches(rule[role], got, resp.status_code):
                wrong.append(f"GET {url} as {role}: declared {rule[role]}, got {resp.status_code} {got}")
        posts = POST_ANSWERS.get(route.route, {})
        for role in ("anonymous", "auditor"):
            if route.route.startswith("admin/") and route.route not in POST_ANSWERS:
                allowed = {"login"} | ({"ok", "redirect", "403", "404", "405"} if role == "admin" else set())
            else:
                allowed = posts.get(role, POST_DENIED_DEFAULT[role])
            resp = actors.clients[role].post(url, {})
            if role != "anonymous":  # the logout routes end the session: log in again
                actors.clients[role].force_login(actors.users[role])
            got = answer(resp)
            if not any(matches(a, got, resp.status_code) for a in allowed):
                wrong.append(f"POST {url} as {role}: declared one of {sorted(allowed)}, got {resp.status_code} {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.django_db
def test_an_api_client_never_sees_another_clients_document(make_api_client, django_user_model):
    from rest_framework.test import APIClient

    actors = make_actors(make_api_client, django_user_model)
    _, other_token = make_api_client("another-platform")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_token}")
    for url in (f"/api/v1/documents/{actors.document.id}/", f"/api/v1/documents/{actors.document.id}/result/"):
        resp = other.get(url)
        assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    listed = other.get("/api/v1/documents/").json()
    assert listed["count"] == 0
