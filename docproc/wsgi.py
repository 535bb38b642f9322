import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "docproc.settings")
application = get_wsgi_application()

# gunicorn runs no system checks: the web server refuses the public built-in key itself.
from docproc.apps import check_secret_key  # noqa: E402  (needs the settings loaded above)

if problems := check_secret_key():
    raise ImproperlyConfigured(f"{problems[0].msg} {problems[0].hint}")
