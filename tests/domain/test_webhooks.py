"""Webhook delivery against a real local receiver: redirects are failed attempts, the connection
goes to the address the URL check passed, non-public addresses and empty secrets are refused,
and dead letters are re-sent (command and UI), audited."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from docproc import webhooks
from docproc.audit.models import AuditEvent
from docproc.models import Document, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


class _Receiver(BaseHTTPRequestHandler):
    """``/hook`` answers ``status`` (with a Location to ``/elsewhere`` for a 3xx); every request,
    whatever its method and path, is recorded."""

    received: list = []
    status = 200

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        type(self).received.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        status = type(self).status if self.path == "/hook" else 200
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver
    server.shutdown()
    server.server_close()


def _delivery(make_api_client, url: str, *, secret: str = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=") -> WebhookDelivery:
    client, _ = make_api_client(webhook_url=url, webhook_secret=secret)
    doc = Document.objects.create(client=client, sha256="a" * 64, original_name="x.pdf", doc_type="claim", file="x",
                                  status="auto_accepted")
    return webhooks.delivery_create(document_id=doc.id, event="document.completed")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_failed_attempt_and_is_not_followed(make_api_client, receiver, settings, status):
    """Given a receiver that answers the POST with a redirect, the attempt fails with its status
    recorded; nothing goes to the Location, and the document is not marked delivered."""
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    server, handler = receiver
    handler.status = status
    delivery = _delivery(make_api_client, f"http://127.0.0.1:{server.server_port}/hook")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code == status and "redirect" in delivery.last_error
    assert [(method, path) for method, path, _, _ in handler.received] == [("POST", "/hook")]
    assert Document.objects.get(pk=delivery.document_id).status == "auto_accepted"
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == status


def test_a_2xx_delivers_and_marks_the_document_delivered(make_api_client, receiver, settings):
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    server, handler = receiver
    delivery = _delivery(make_api_client, f"http://localhost:{server.server_port}/hook")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"
    (method, path, headers, body), = handler.received
    assert (method, path) == ("POST", "/hook") and body
    assert headers["host"] == f"localhost:{server.server_port}"  # the URL's host, though the address was dialled
    assert Document.objects.get(pk=delivery.document_id).status == "delivered"


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(make_api_client, receiver, settings, monkeypatch):
    """Given a name that answers a public address to the check and loopback to any later lookup
    (DNS rebinding), the delivery never reaches loopback: the name is resolved once.

    The public address cannot be reached from a test, so connecting to it is refused here; the
    point is where the request went, not that it arrived."""
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = False
    settings.DOCPROC_WEBHOOK_TIMEOUT = 2
    server, handler = receiver
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host, port, *args, **kwargs):
        if host == "hooks.rebind.test":
            lookups.append(host)
            address = "93.184.215.14" if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        if host == "93.184.215.14":
            raise socket.gaierror(socket.EAI_NONAME, "unreachable from the test")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    delivery = _delivery(make_api_client, f"http://hooks.rebind.test:{server.server_port}/hook")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    assert handler.received == []
    assert lookups == ["hooks.rebind.test"]


@pytest.mark.parametrize("host", [
    "100.64.0.1", "100.100.100.200", "127.0.0.1", "10.0.0.5", "169.254.169.254", "0.0.0.0", "224.0.0.1",
    "[::1]", "[::ffff:127.0.0.1]", "[2002:7f00:1::]", "[2002:a9fe:a9fe::1]", "[64:ff9b::a00:1]",
    "[64:ff9b::7f00:1]", "[64:ff9b:1::808:808]", "[2001::1]", "[fd00::1]", "[fe80::1]", "[::7f00:1]",
])
def test_every_address_that_is_not_globally_routable_is_refused(host, settings):
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.UnsafeWebhookUrl) as err:
        webhooks.webhook_url_check(f"http://{host}/hook")
    assert err.value.code == "webhook_address_not_public"


@pytest.mark.parametrize(("url", "address"), [
    ("https://8.8.8.8/hook", "8.8.8.8"), ("http://[2001:4860:4860::8888]:8443/h", "2001:4860:4860::8888"),
    ("https://[64:ff9b::808:808]/hook", "64:ff9b::808:808"),  # NAT64 of a public address
])
def test_public_addresses_pass_and_are_returned(url, address, settings):
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = False
    assert webhooks.webhook_url_check(url) == address


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/", "http:///x", "http://user:pw@8.8.8.8/", "http://[::1/"])
def test_malformed_webhook_urls_are_refused_with_a_code(url, settings):
    with pytest.raises(webhooks.UnsafeWebhookUrl) as err:
        webhooks.webhook_url_check(url)
    assert err.value.code == "webhook_url_invalid"


def test_an_empty_secret_is_refused_and_nothing_is_sent(make_api_client, receiver, settings):
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(webhooks.UnsafeWebhookUrl) as err:
        webhooks.webhook_secret_check("whsec_")
    assert err.value.code == "webhook_secret_missing"
    server, handler = receiver
    delivery = _delivery(make_api_client, f"http://127.0.0.1:{server.server_port}/hook", secret="")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("webhook_secret_missing") and handler.received == []


def _dead(make_api_client, server, handler, settings) -> WebhookDelivery:
    settings.DOCPROC_WEBHOOK_ALLOW_PRIVATE = True
    settings.DOCPROC_WEBHOOK_MAX_ATTEMPTS = 1
    handler.status = 503
    delivery = _delivery(make_api_client, f"http://127.0.0.1:{server.server_port}/hook")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "dead"
    handler.status = 200
    return delivery


def test_manage_py_webhooks_redeliver_dead_sends_again_and_audits(make_api_client, receiver, settings):
    server, handler = receiver
    delivery = _dead(make_api_client, server, handler, settings)
    call_command("webhooks", "redeliver", "--dead")
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(handler.received) == 2
    assert Document.objects.get(pk=delivery.document_id).status == "delivered"
    event = AuditEvent.objects.get(action="webhook.redelivered", object_id=str(delivery.id))
    assert event.actor_type == "system" and event.payload["previous"]["attempts"] == 1


def test_a_supervisor_resends_a_dead_letter_from_the_ui(make_api_client, receiver, settings, client):
    from django.contrib.auth.models import Group, User

    server, handler = receiver
    delivery = _dead(make_api_client, server, handler, settings)
    reviewer = User.objects.create_user("rita")
    reviewer.groups.add(Group.objects.get(name="reviewer"))
    client.force_login(reviewer)
    assert client.post(f"/ops/webhooks/{delivery.id}/redeliver/").status_code == 403
    supervisor = User.objects.create_user("sam")
    supervisor.groups.add(Group.objects.get(name="supervisor"))
    client.force_login(supervisor)
    page = client.get("/ops/webhooks/dead/")
    assert page.status_code == 200 and str(delivery.id) in page.content.decode()
    answer = client.post(f"/ops/webhooks/{delivery.id}/redeliver/")
    assert answer.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0
    event = AuditEvent.objects.get(action="webhook.redelivered", object_id=str(delivery.id))
    assert (event.actor_type, event.actor) == ("user", "sam")
    assert webhooks.delivery_attempt(delivery_id=delivery.id) == "delivered"
    again = client.post(f"/ops/webhooks/{delivery.id}/redeliver/")  # no longer dead: refused with a message
    assert again.status_code == 302 and WebhookDelivery.objects.get(pk=delivery.id).status == "delivered"
