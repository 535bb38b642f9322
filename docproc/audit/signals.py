"""Audit events for what Django itself does: sign-in, failed sign-in, sign-out, user accounts,
group membership and permissions (connected in AuditConfig.ready()).

The receivers run inside the transaction of the change (Django wraps m2m changes in one), so the
event commits with it. The actor is the signed-in user of the current request, or the system
when the change comes from a command or a migration.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.utils import timezone

from docproc.netaddr import client_ip

from .models import AuditEvent
from .service import Actor, acting, current_client_ip, normalize_ip, record

_FLAGS = ("is_active", "is_staff", "is_superuser")
_DETAILS = ("username", "email", "first_name", "last_name", "password")


def _ip(request) -> str | None:
    return client_ip(request) if request is not None else current_client_ip.get()


def signed_in(sender, request, user, **kwargs) -> None:
    record(actor=Actor.user(user), action="auth.signed_in", object_type="user", object_id=user.pk,
           client_ip=_ip(request), payload={"user": user.get_username()})


def sign_in_failed(sender, credentials: dict[str, Any], request=None, **kwargs) -> None:
    User = get_user_model()
    username = str(credentials.get(User.USERNAME_FIELD, credentials.get("username", "")))[:150]
    if _lock_recorded(username, _ip(request)):
        return  # refused while locked out: the auth.locked_out event stands for these attempts
    record(actor=Actor("anonymous", "web"), action="auth.sign_in_failed", object_type="user",
           client_ip=_ip(request), payload={"username": username})


def _lock_recorded(username: str, ip: str | None) -> bool:
    """Whether a lockout of (username, ip) was recorded within the lockout time."""
    seconds = round(settings.AXES_COOLOFF_TIME * 3600)
    recent = AuditEvent.objects.filter(action="auth.locked_out", client_ip=normalize_ip(ip),
                                       at__gte=timezone.now() - timedelta(seconds=seconds))
    return any(e.payload.get("username") == username for e in recent.only("payload")[:50])


def locked_out(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """django-axes locked sign-in for (user name, address) after DOCPROC_LOGIN_FAILURE_LIMIT
    failures. axes signals again on every attempt refused during the lockout: one event per lockout."""
    name, ip = str(username or "")[:150], ip_address or _ip(request)
    if _lock_recorded(name, ip):
        return
    record(actor=Actor("anonymous", "web"), action="auth.locked_out", object_type="user", client_ip=ip,
           payload={"username": name, "failures": settings.AXES_FAILURE_LIMIT,
                    "lockout_seconds": round(settings.AXES_COOLOFF_TIME * 3600)})


def signed_out(sender, request, user, **kwargs) -> None:
    if user is None:  # signing out without a session: nothing happened
        return
    record(actor=Actor.user(user), action="auth.signed_out", object_type="user", object_id=user.pk,
           client_ip=_ip(request), payload={"user": user.get_username()})


def user_flags_before(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & {*_FLAGS, *_DETAILS}:
        return  # e.g. last_login on every sign-in: nothing audited can change, no query
    row = sender.objects.filter(pk=instance.pk).values(*_FLAGS, *_DETAILS).first()
    if row is not None:
        instance._audit_flags_before = {k: row[k] for k in _FLAGS}
        instance._audit_details_before = {k: row[k] for k in _DETAILS}


def user_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if raw:
        return
    after = {flag: getattr(instance, flag) for flag in _FLAGS}
    if created:
        record(actor=acting(), action="user.created", object_type="user", object_id=instance.pk,
               payload={"user": instance.get_username(), "after": after})
        return
    details = instance.__dict__.pop("_audit_details_before", None)
    if details is not None:
        changed = sorted(k for k in _DETAILS if details[k] != getattr(instance, k))
        if changed:
            # Which details changed, never the password hash; names and e-mails before and after.
            shown = [k for k in changed if k != "password"]
            record(actor=acting(), action="user.changed", object_type="user", object_id=instance.pk,
                   payload={"user": instance.get_username(), "changed": changed,
                            "before": {k: details[k] for k in shown}, "after": {k: getattr(instance, k) for k in shown}})
    before = instance.__dict__.pop("_audit_flags_before", None)
    if before is None or before == after:
        return
    record(actor=acting(), action="user.flags_changed", object_type="user", object_id=instance.pk,
           payload={"user": instance.get_username(), "before": before, "after": after})


def user_deleted(sender, instance, **kwargs) -> None:
    record(actor=acting(), action="user.deleted", object_type="user", object_id=instance.pk,
           payload={"user": instance.get_username()})


class M2MWatcher:
    """Records the before and after of a many-to-many relation (a user's groups, a user's or a
    group's permissions), whichever side it is changed from."""

    def __init__(self, *, owner, field: str, action: str, object_type: str, label) -> None:
        self.owner, self.field, self.action, self.object_type, self.label = owner, field, action, object_type, label
        self.key = f"_audit_m2m_{owner.__name__}_{field}"

    def names(self, owner_obj) -> list[str]:
        related = getattr(owner_obj, self.field).all()
        if related.model is Permission:
            related = related.select_related("content_type")
        return sorted(self.label(x) for x in related)

    def owners(self, instance, reverse: bool, pk_set):
        if not reverse:
            return [instance]
        if pk_set is None:  # clear() from the other side: everyone related now
            return list(self.owner.objects.filter(**{self.field: instance}))
        return list(self.owner.objects.filter(pk__in=pk_set))

    def __call__(self, sender, instance, action, reverse, model, pk_set, **kwargs) -> None:
        if not action.startswith(("pre_", "post_")):
            return
        phase, _, change = action.partition("_")
        if phase == "pre":
            instance.__dict__[self.key] = {o.pk: (o, self.names(o)) for o in self.owners(instance, reverse, pk_set)}
            return
        pending = instance.__dict__.pop(self.key, {})
        for pk, (owner_obj, before) in pending.items():
            owner_obj = instance if not reverse else owner_obj
            after = self.names(owner_obj)
            if after == before:
                continue
            record(actor=acting(), action=self.action, object_type=self.object_type, object_id=pk,
                   payload={self.object_type: _name(owner_obj), "change": change, "before": before, "after": after})


def _name(obj) -> str:
    return obj.get_username() if hasattr(obj, "get_username") else str(obj)


def _perm_label(perm: Permission) -> str:
    return f"{perm.content_type.app_label}.{perm.codename}"


def connect() -> None:
    User = get_user_model()
    user_logged_in.connect(signed_in, dispatch_uid="audit-signed-in")
    user_login_failed.connect(sign_in_failed, dispatch_uid="audit-sign-in-failed")
    user_logged_out.connect(signed_out, dispatch_uid="audit-signed-out")
    user_locked_out.connect(locked_out, dispatch_uid="audit-locked-out")
    pre_save.connect(user_flags_before, sender=User, dispatch_uid="audit-user-flags-before")
    post_save.connect(user_saved, sender=User, dispatch_uid="audit-user-saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid="audit-user-deleted")
    watchers = (
        (User.groups.through, M2MWatcher(owner=User, field="groups", action="role.changed", object_type="user",
                                         label=lambda g: g.name)),
        (User.user_permissions.through, M2MWatcher(owner=User, field="user_permissions", action="permission.changed",
                                                   object_type="user", label=_perm_label)),
        (Group.permissions.through, M2MWatcher(owner=Group, field="permissions", action="permission.changed",
                                               object_type="group", label=_perm_label)),
    )
    for through, watcher in watchers:
        m2m_changed.connect(watcher, sender=through, weak=False, dispatch_uid=f"audit-{watcher.key}")
