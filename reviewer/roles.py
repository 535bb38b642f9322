"""The four staff roles and what each may do. A role is a Django group holding permissions;
views check permissions, never group names, so an operator can compose other roles."""

from __future__ import annotations

REVIEWER, SUPERVISOR, AUDITOR, ADMIN = "reviewer", "supervisor", "auditor", "admin"

REVIEW = "reviewer.review_documents"
VIEW = "reviewer.view_results"
SUPERVISE = "reviewer.supervise_reviews"
THRESHOLDS = "reviewer.change_thresholds"
EXPORT = "reviewer.export_results"

# group -> (app_label, codename) pairs
ROLE_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    REVIEWER: (("reviewer", "review_documents"), ("reviewer", "view_results")),
    SUPERVISOR: (
        ("reviewer", "review_documents"), ("reviewer", "view_results"), ("reviewer", "supervise_reviews"),
        ("reviewer", "change_thresholds"), ("reviewer", "export_results"),
    ),
    AUDITOR: (("reviewer", "view_results"), ("reviewer", "export_results")),
    ADMIN: (
        ("reviewer", "review_documents"), ("reviewer", "view_results"), ("reviewer", "supervise_reviews"),
        ("reviewer", "change_thresholds"), ("reviewer", "export_results"),
        ("auth", "add_user"), ("auth", "change_user"), ("auth", "view_user"), ("auth", "view_group"),
        ("auth", "change_group"),
    ),
}


def sync_roles(group_model, permission_model) -> None:
    """Create the groups and give each exactly the permissions above (idempotent). Extra
    permissions an operator added to a group are kept."""
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=name)
        for app_label, codename in perms:
            perm = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                group.permissions.add(perm)
