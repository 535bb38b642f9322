"""Who gets what, for every URL of the project: the declared answer of each route to a GET by
each kind of caller. ``test_permission_walk`` fails for a route missing here, for an entry whose
route no longer exists, and for any answer that differs.

Answers: ``ok`` 2xx; ``redirect`` 3xx elsewhere than a login page; ``login`` 3xx to a login page;
``401``/``403``/``404``/``405`` those statuses (405: the caller got past the checks to a view that
only takes POST); ``ready`` 200 or 503 (readiness tells, it does not refuse); ``staff`` any answer
below 500 other than a login redirect (the admin site's own pages, for an admin).
"""

from __future__ import annotations

ROLES = ("anonymous", "api_client", "reviewer", "supervisor", "auditor", "admin")


def row(anonymous: str, api_client: str, reviewer: str, supervisor: str, auditor: str, admin: str) -> dict[str, str]:
    return dict(zip(ROLES, (anonymous, api_client, reviewer, supervisor, auditor, admin), strict=True))


EVERYONE_OK = row("ok", "ok", "ok", "ok", "ok", "ok")
API_ONLY = row("401", "ok", "401", "401", "401", "401")  # tokens only: a staff session is no API client
STAFF_LOGIN = ("login", "login")  # anonymous and API client on any staff page

PERMISSIONS: dict[str, dict[str, str]] = {
    "": row("redirect", "redirect", "redirect", "redirect", "redirect", "redirect"),
    # --- REST API ---------------------------------------------------------------------------
    "api/v1/documents/": API_ONLY,
    "api/v1/documents/<uuid:document_id>/": API_ONLY,
    "api/v1/documents/<uuid:document_id>/result/": API_ONLY,
    "api/v1/documents/<uuid:document_id>/retry/": row("401", "405", "401", "401", "401", "401"),  # POST only
    "api/v1/documents/<uuid:document_id>/reprocess/": row("401", "405", "401", "401", "401", "401"),  # POST only
    "api/v1/schema/": EVERYONE_OK,
    "api/v1/docs/": EVERYONE_OK,
    # --- review UI --------------------------------------------------------------------------
    "review/": row(*STAFF_LOGIN, "ok", "ok", "ok", "ok"),
    "review/next/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/dashboard/": row(*STAFF_LOGIN, "ok", "ok", "ok", "ok"),
    "review/profile/": row(*STAFF_LOGIN, "ok", "ok", "ok", "ok"),
    "review/work/": row(*STAFF_LOGIN, "403", "ok", "403", "ok"),
    "review/memory/": row(*STAFF_LOGIN, "403", "ok", "403", "ok"),
    "review/memory/<int:entry_id>/delete/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/bulk/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/work/requeue-stuck/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/work/<uuid:document_id>/retry/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/thresholds/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/calibrations/<int:proposal_id>/decide/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/export/corrections.csv": row(*STAFF_LOGIN, "403", "ok", "ok", "ok"),
    "review/doc/<uuid:document_id>/": row(*STAFF_LOGIN, "redirect", "redirect", "403", "redirect"),
    "review/doc/<uuid:document_id>/claim/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/heartbeat/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/field/<int:field_id>/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/accept-confident/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/submit/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/reject/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/postpone/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    "review/doc/<uuid:document_id>/escalate/": row(*STAFF_LOGIN, "405", "405", "403", "405"),
    # Releasing a lock checks the caller inside the POST: any logged-in user reaches the view.
    "review/doc/<uuid:document_id>/release/": row(*STAFF_LOGIN, "405", "405", "405", "405"),
    "review/doc/<uuid:document_id>/reassign/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/doc/<uuid:document_id>/page/<int:number>.png": row(*STAFF_LOGIN, "ok", "ok", "ok", "ok"),
    "review/documents/<uuid:document_id>/": row(*STAFF_LOGIN, "ok", "ok", "ok", "ok"),
    "review/documents/<uuid:document_id>/status.json": row(*STAFF_LOGIN, "ok", "ok", "ok", "ok"),
    "review/documents/<uuid:document_id>/reprocess/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    "review/documents/<uuid:document_id>/runs/<int:run_id>/decide/": row(*STAFF_LOGIN, "403", "405", "403", "405"),
    # --- audit UI ---------------------------------------------------------------------------
    "audit/": row(*STAFF_LOGIN, "403", "ok", "ok", "ok"),
    "audit/events/<int:seq>/": row(*STAFF_LOGIN, "403", "ok", "ok", "ok"),
    "audit/export/<str:fmt>/": row("405", "405", "405", "405", "405", "405"),  # POST only; see POST_ANSWERS
    "audit/export/<str:fmt>/manifest/": row(*STAFF_LOGIN, "403", "403", "ok", "ok"),
    # --- accounts ---------------------------------------------------------------------------
    "accounts/login/": EVERYONE_OK,
    "accounts/logout/": row("405", "405", "405", "405", "405", "405"),  # POST only (Django 5)
    # --- operations -------------------------------------------------------------------------
    "healthz": EVERYONE_OK,
    "readyz": row("ready", "ready", "ready", "ready", "ready", "ready"),
    "metrics": row("401", "401", "403", "403", "403", "ok"),
    "ops/webhooks/": row(*STAFF_LOGIN, "403", "ok", "403", "ok"),
    "ops/webhooks/dead/": row(*STAFF_LOGIN, "403", "ok", "403", "ok"),
    "ops/webhooks/<uuid:delivery_id>/redeliver/": row(*STAFF_LOGIN, "405", "405", "405", "405"),
    # --- Django admin: staff only (the admin role); its login and logout pages are public ----
    "admin/login/": row("ok", "ok", "ok", "ok", "ok", "redirect"),
    "admin/logout/": row("redirect", "redirect", "redirect", "redirect", "redirect", "405"),
}

# Every other admin/ route: everyone but the admin is sent to the admin login page.
PREFIX_PERMISSIONS: dict[str, dict[str, str]] = {
    "admin/": row("login", "login", "login", "login", "login", "staff"),
}

# A POST by someone who must not act: each route's answer to an anonymous POST and to an auditor's
# POST (auditors read, they never change a document). Routes not named take the default.
POST_DENIED_DEFAULT = {"anonymous": {"login", "401", "403", "405"}, "auditor": {"login", "401", "403", "405"}}
POST_ANSWERS: dict[str, dict[str, set[str]]] = {
    # Public forms: a POST re-renders the form (bad credentials) or logs out.
    "accounts/login/": {"anonymous": {"ok"}, "auditor": {"ok"}},
    "accounts/logout/": {"anonymous": {"redirect", "ok"}, "auditor": {"redirect", "ok"}},
    "admin/login/": {"anonymous": {"ok"}, "auditor": {"ok"}},
    "admin/logout/": {"anonymous": {"redirect", "ok"}, "auditor": {"redirect", "ok"}},
    "api/v1/schema/": {"anonymous": {"405"}, "auditor": {"405"}},
    # Everyone's own settings: an auditor may set a time zone too (an empty one is the browser's).
    "review/profile/": {"anonymous": {"login"}, "auditor": {"redirect"}},
    "api/v1/docs/": {"anonymous": {"405"}, "auditor": {"405"}},
    "healthz": {"anonymous": {"ok", "405"}, "auditor": {"ok", "405"}},
    "readyz": {"anonymous": {"ready", "405"}, "auditor": {"ready", "405"}},
    "": {"anonymous": {"redirect"}, "auditor": {"redirect"}},
    # Auditors export the audit log; they do it by POST.
    "audit/export/<str:fmt>/": {"anonymous": {"login", "403"}, "auditor": {"ok"}},
    "review/export/corrections.csv": {"anonymous": {"login"}, "auditor": {"ok", "405"}},
    # Releasing a lock one does not hold changes nothing and goes back to the queue.
    "review/doc/<uuid:document_id>/release/": {"anonymous": {"login"}, "auditor": {"redirect", "403"}},
}
