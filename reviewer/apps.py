from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, **kwargs) -> None:
    # Permissions are created by post_migrate too; this runs after them (the app comes later in
    # INSTALLED_APPS), so a fresh or flushed database always has the four roles.
    from django.contrib.auth.models import Group, Permission

    from reviewer.roles import sync_roles

    sync_roles(Group, Permission)


class ReviewerConfig(AppConfig):
    name = "reviewer"
    verbose_name = "Review queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="reviewer-sync-roles")
