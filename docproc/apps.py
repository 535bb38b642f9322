from django.apps import AppConfig
from django.conf import settings
from django.core import checks
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
        if settings.DOCPROC_DEVICE not in ("cpu", "cuda"):
            raise ImproperlyConfigured(f"DOCPROC_DEVICE is cpu or cuda, not {settings.DOCPROC_DEVICE!r}")
        checks.register(check_secret_key)


def check_secret_key(app_configs=None, **kwargs):
    """The built-in key is public (it is in this source): with DEBUG off it would let anyone forge
    sessions and CSRF tokens, so every management command, migrate and ``check --deploy`` included,
    refuses to run with it."""
    if settings.DEBUG or settings.SECRET_KEY != settings.BUILTIN_SECRET_KEY:
        return []
    return [checks.Error(
        "DOCPROC_SECRET_KEY is not set and DEBUG is off: the built-in development key is public.",
        hint=("Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(64))'` and set "
              "DOCPROC_SECRET_KEY, or write it to DOCPROC_SECRET_KEY_FILE (default data/secret-key, mode 0600; "
              "scripts/install does this on one machine)."),
        id="docproc.E001",
    )]
