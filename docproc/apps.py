from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from docproc import doctypes


class DocprocConfig(AppConfig):
    name = "docproc"
    verbose_name = "Documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every process (web, workers, commands) starts with the same checked set of document
        # types, or does not start: a type that fails to load would otherwise fail each upload.
        try:
            doctypes.configure(settings.DOCPROC_DOCTYPES_DIR)
        except doctypes.DocTypeError as exc:
            raise ImproperlyConfigured(f"document type file {exc} (DOCPROC_DOCTYPES_DIR="
                                       f"{settings.DOCPROC_DOCTYPES_DIR})") from None
