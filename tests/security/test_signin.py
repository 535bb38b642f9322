"""Sign-in: lockout per user name and address (django-axes), audited; idle timeout and absolute
session age; Django's full password validators; the built-in secret key refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def person(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("carla", password="Correct-horse-42", is_superuser=True)


def _sign_in(client, username, password, ip):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_brute_force_is_locked_out_per_user_and_address_and_audited(client, person, settings):
    """Given 8 wrong passwords for one user from one address, then the right password from that
    address is refused (429) until the lockout ends, the same user from another address still
    signs in, and the lockout is in the audit log."""
    from django.test import Client

    from docproc.audit.models import AuditEvent

    answers = [_sign_in(client, "carla", f"wrong-{i}", "203.0.113.5").status_code for i in range(8)]
    assert answers[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert answers[-1] == 429
    locked = _sign_in(client, "carla", "Correct-horse-42", "203.0.113.5")
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    assert b"Sign-in locked" in locked.content

    elsewhere = Client()
    assert _sign_in(elsewhere, "carla", "Correct-horse-42", "198.51.100.20").status_code == 302
    assert "_auth_user_id" in elsewhere.session

    lock = AuditEvent.objects.get(action="auth.locked_out")
    assert lock.client_ip == "203.0.113.5" and lock.payload["username"] == "carla"
    # The failure that locks is in the lock event; refused attempts while locked write nothing.
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").count() == settings.AXES_FAILURE_LIMIT - 1


@pytest.mark.django_db
def test_lockout_follows_the_trusted_proxy_address(client, person, settings):
    """Behind one trusted proxy the lockout and the audit use the forwarded client address,
    and a forged X-Forwarded-For entry further left changes nothing."""
    from django.test import Client

    from docproc.audit.models import AuditEvent

    settings.DOCPROC_TRUSTED_PROXIES = 1
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "carla", "password": f"bad-{i}"},
                    REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 203.0.113.77")
    assert AuditEvent.objects.get(action="auth.locked_out").client_ip == "203.0.113.77"
    other = Client()
    ok = other.post("/accounts/login/", {"username": "carla", "password": "Correct-horse-42"},
                    REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.78")
    assert ok.status_code == 302


def test_client_ip_honours_only_the_trusted_proxy_count(rf, settings):
    from docproc.netaddr import client_ip

    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.1, 10.0.0.1")
    settings.DOCPROC_TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.0.0.2"
    settings.DOCPROC_TRUSTED_PROXIES = 1
    assert client_ip(request) == "10.0.0.1"
    settings.DOCPROC_TRUSTED_PROXIES = 2
    assert client_ip(request) == "203.0.113.1"
    garbage = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-address")
    assert client_ip(garbage) == "10.0.0.2"


@pytest.mark.django_db
def test_audit_events_of_api_requests_use_the_forwarded_address(settings, make_api_client, upload_refusals):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from docproc.audit.models import AuditEvent

    settings.DOCPROC_TRUSTED_PROXIES = 1
    _, token = make_api_client("behind-proxy")
    http = APIClient(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.50")
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    http.post("/api/v1/documents/", {"file": SimpleUploadedFile("x.png", b"nope"), "doc_type": "claim"}, format="multipart")
    upload_refusals()
    event = AuditEvent.objects.filter(action="document.upload_refused").latest("seq")
    assert event.client_ip == "203.0.113.50"


@pytest.mark.django_db
def test_an_idle_session_is_signed_out(client, person, settings):
    settings.DOCPROC_SESSION_IDLE_SECONDS = 60
    client.force_login(person)
    assert client.get("/review/").status_code == 200
    session = client.session
    session["_docproc_seen"] = int(time.time()) - 61
    session.save()
    answer = client.get("/review/")
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_an_active_session_stays_signed_in(client, person, settings):
    settings.DOCPROC_SESSION_IDLE_SECONDS = 60
    client.force_login(person)
    client.get("/review/")
    session = client.session
    session["_docproc_seen"] = int(time.time()) - 30
    session.save()
    assert client.get("/review/").status_code == 200


def test_session_defaults_are_short():
    from django.conf import settings

    assert settings.DOCPROC_SESSION_IDLE_SECONDS == 30 * 60
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600


@pytest.mark.parametrize("password", ["carla.ferrari", "4815162342108", "short-1"])
def test_full_password_validators(password, db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user = get_user_model()(username="carla.ferrari", email="carla.ferrari@example.com")
    with pytest.raises(ValidationError):
        validate_password(password, user=user)
    validate_password("Tulip-Granite-Orbit-7", user=user)


def _product_env() -> dict[str, str]:
    """The environment of a process started with the product's own settings, not the tests' (which
    give every process a test key), and without a secret key."""
    env = {k: v for k, v in os.environ.items() if k != "DOCPROC_SECRET_KEY"}
    env["DJANGO_SETTINGS_MODULE"] = "docproc.settings"
    return env


def _check_deploy(tmp_path, **env):
    base = _product_env()
    base.update(DOCPROC_HTTPS="1", DOCPROC_DEBUG="0", DOCPROC_ALLOWED_HOSTS="docproc.example.com",
                DOCPROC_DATA_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_check_deploy_fails_with_the_built_in_secret_key(tmp_path):
    proc = _check_deploy(tmp_path)
    assert proc.returncode != 0
    assert "docproc.E001" in proc.stderr and "secrets.token_urlsafe" in proc.stderr


def test_the_key_file_is_read_when_the_variable_is_unset(tmp_path):
    key = tmp_path / "secret-key"
    key.write_text("k" * 20 + os.urandom(32).hex() + "\n")
    proc = _check_deploy(tmp_path, DOCPROC_SECRET_KEY_FILE=str(key))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_web_server_refuses_to_start_with_the_built_in_key(tmp_path):
    base = _product_env()
    base.update(DOCPROC_DEBUG="0", DOCPROC_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "import docproc.wsgi"], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "ImproperlyConfigured" in proc.stderr and "token_urlsafe" in proc.stderr
    ok = subprocess.run([sys.executable, "-c", "import docproc.wsgi"], cwd=ROOT, env={**base, "DOCPROC_DEBUG": "1"},
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
