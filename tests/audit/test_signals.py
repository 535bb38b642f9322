"""Sign-in, failed sign-in, sign-out, role and permission changes are recorded, with before and
after, whoever makes them and from whichever side of the relation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from docproc.audit.models import AuditEvent
from docproc.audit.verify import verify_database

pytestmark = pytest.mark.django_db


def last(action: str) -> AuditEvent:
    event = AuditEvent.objects.filter(action=action).order_by("-seq").first()
    assert event is not None, f"no {action} event"
    return event


def test_sign_in_failure_and_sign_out(user_in):
    user = user_in("reviewer", username="rita")
    c = Client(REMOTE_ADDR="198.51.100.4")
    assert c.post("/accounts/login/", {"username": "rita", "password": "wrong"}).status_code == 200
    failed = last("auth.sign_in_failed")
    assert failed.payload == {"username": "rita"} and failed.actor_type == "anonymous"
    assert failed.client_ip == "198.51.100.4"
    assert "wrong" not in str(failed.payload)
    assert c.post("/accounts/login/", {"username": "rita", "password": "pw-Secret-123"}).status_code == 302
    signed_in = last("auth.signed_in")
    assert (signed_in.actor, signed_in.object_id, signed_in.client_ip) == ("rita", str(user.pk), "198.51.100.4")
    assert signed_in.request_id  # the request id of the sign-in request
    c.post("/accounts/logout/")
    assert last("auth.signed_out").actor == "rita"
    assert verify_database().ok


def test_group_changes_from_both_sides(user_in, django_user_model):
    user = user_in(username="sam")
    reviewer, _ = Group.objects.get_or_create(name="reviewer")
    supervisor, _ = Group.objects.get_or_create(name="supervisor")
    user.groups.add(reviewer)
    e = last("role.changed")
    assert (e.object_id, e.payload["before"], e.payload["after"], e.payload["change"]) == (str(user.pk), [], ["reviewer"], "add")
    supervisor.user_set.add(user)  # from the group's side
    e = last("role.changed")
    assert e.payload["before"] == ["reviewer"] and e.payload["after"] == ["reviewer", "supervisor"]
    user.groups.remove(reviewer)
    assert last("role.changed").payload["after"] == ["supervisor"]
    count = AuditEvent.objects.filter(action="role.changed").count()
    user.groups.add(supervisor)  # no change: no event
    assert AuditEvent.objects.filter(action="role.changed").count() == count
    supervisor.user_set.clear()
    e = last("role.changed")
    assert e.payload["before"] == ["supervisor"] and e.payload["after"] == [] and e.payload["change"] == "clear"
    assert e.actor_type == "system"  # no request: a command or a shell


def test_permission_changes(user_in):
    user = user_in(username="pat")
    perm = Permission.objects.get(codename="export_auditevent")
    user.user_permissions.add(perm)
    e = last("permission.changed")
    assert e.object_type == "user" and e.payload["after"] == ["audit.export_auditevent"]
    group, _ = Group.objects.get_or_create(name="auditor")
    group.permissions.remove(perm)
    group.permissions.add(perm)
    e = last("permission.changed")
    assert e.object_type == "group" and e.payload["group"] == "auditor" and "audit.export_auditevent" in e.payload["after"]
    assert "audit.export_auditevent" not in e.payload["before"]


def test_user_created_and_flags(django_user_model):
    user = django_user_model.objects.create_user("lee", password="pw-Secret-123")
    assert last("user.created").payload["user"] == "lee"
    user.is_superuser = True
    user.save()
    e = last("user.flags_changed")
    assert e.payload["before"]["is_superuser"] is False and e.payload["after"]["is_superuser"] is True


def test_admin_change_is_attributed_to_the_signed_in_admin(django_user_model, user_in):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-Secret-123")
    target = user_in(username="kim")
    group, _ = Group.objects.get_or_create(name="auditor")
    c = Client()
    c.force_login(admin)
    resp = c.post(f"/admin/auth/user/{target.pk}/change/", {
        "username": "kim", "password": target.password, "is_active": "on", "groups": [group.pk],
        "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
    })
    assert resp.status_code == 302, resp.content[:2000]
    e = last("role.changed")
    assert (e.actor_type, e.actor, e.payload["after"]) == ("user", "boss", ["auditor"])
