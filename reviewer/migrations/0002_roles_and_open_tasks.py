"""The four staff roles with their permissions, and a review task for every document already
waiting for review."""

from datetime import UTC, datetime

from django.db import migrations

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)

ROLE_PERMISSIONS = {
    "reviewer": (("reviewer", "review_documents"), ("reviewer", "view_results")),
    "supervisor": (
        ("reviewer", "review_documents"), ("reviewer", "view_results"), ("reviewer", "supervise_reviews"),
        ("reviewer", "change_thresholds"), ("reviewer", "export_results"),
    ),
    "auditor": (("reviewer", "view_results"), ("reviewer", "export_results")),
    "admin": (
        ("reviewer", "review_documents"), ("reviewer", "view_results"), ("reviewer", "supervise_reviews"),
        ("reviewer", "change_thresholds"), ("reviewer", "export_results"),
        ("auth", "add_user"), ("auth", "change_user"), ("auth", "view_user"), ("auth", "view_group"),
        ("auth", "change_group"),
    ),
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes

    # Permissions are normally created after all migrations; make them now so groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_contenttypes(app_config, apps=apps, verbosity=0)
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is not None:
                group.permissions.add(perm)


def open_tasks(apps, schema_editor):
    Document = apps.get_model("docproc", "Document")
    ReviewTask = apps.get_model("reviewer", "ReviewTask")
    waiting = Document.objects.filter(status="needs_review", review_task__isnull=True)
    ReviewTask.objects.bulk_create(
        [ReviewTask(document_id=d.id, doc_type=d.doc_type, client_id=d.client_id, priority=d.priority,
                    sla_deadline=d.sla_deadline, due_at=d.sla_deadline or NO_DEADLINE,
                    received_at=d.created_at) for d in waiting.iterator()],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("reviewer", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(open_tasks, migrations.RunPython.noop),
    ]
