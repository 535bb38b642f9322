from django.apps import AppConfig


class DocprocConfig(AppConfig):
    name = "docproc"
    verbose_name = "Documents"
    default_auto_field = "django.db.models.BigAutoField"
