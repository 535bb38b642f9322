"""The six kinds of caller the permission walk uses, and the objects its URLs point at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("anonymous", "api_client", "reviewer", "supervisor", "auditor", "admin")


@dataclass
class Actors:
    clients: dict[str, Any]  # role -> django test client (logged in, or with an API token)
    users: dict[str, Any]
    api_client: Any  # the ApiClient that owns the sample document
    document: Any
    field: Any


def make_actors(make_api_client, user_model) -> Actors:
    from django.contrib.auth.models import Group
    from django.core.files.base import ContentFile
    from django.test import Client
    from rest_framework.test import APIClient

    from docproc.models import Document, ExtractionRun, Field, Page

    api_client, token = make_api_client("permission-walk")
    doc = Document(client=api_client, sha256="0" * 64, original_name="claim.pdf", content_type="application/pdf",
                   size=10, doc_type="claim", status="needs_review", page_count=1)
    doc.file.save("original", ContentFile(b"%PDF-1.4\n"), save=False)
    doc.save()
    from django.conf import settings
    from PIL import Image

    image = Path(settings.MEDIA_ROOT) / "pages" / str(doc.id) / "page-1.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (85, 110), "white").save(image)
    Page.objects.create(document=doc, number=1, width=612, height=792, source="text-layer",
                        image=str(image.relative_to(settings.MEDIA_ROOT)), image_width=85, image_height=110)
    run = ExtractionRun.objects.create(document=doc, extractor="rules", extractor_version="1")
    field = Field.objects.create(document=doc, run=run, name="claim_number", value="CLM-1", confidence=0.5,
                                 status="needs_review")
    try:
        from reviewer.queue import review_task_open

        review_task_open(document=doc)
    except ImportError:
        pass

    clients: dict[str, Any] = {"anonymous": Client()}
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    clients["api_client"] = api
    users = {}
    for role in ("reviewer", "supervisor", "auditor", "admin"):
        user = user_model.objects.create_user(username=f"walk-{role}", password="walk-password-1")
        group = Group.objects.filter(name=role).first()
        if group is not None:
            user.groups.add(group)
        if role == "admin":
            user.is_staff = True
            user.is_superuser = True
            user.save()
        users[role] = user
        c = Client()
        c.force_login(user)
        clients[role] = c
    return Actors(clients, users, api_client, doc, field)


def sample_values(actors: Actors) -> dict[str, str]:
    """Parameter name -> a value pointing at a real object where there is one."""
    return {
        "document_id": str(actors.document.id),
        "field_id": str(actors.field.id),
        "number": "1",
        "seq": "1",
        "fmt": "csv",
        "object_id": str(actors.users["reviewer"].pk),
        "app_label": "auth",
        "content_type_id": "1",
        "url": "no-such-admin-page/",
        "uidb64": "x",
        "token": "x",
    }
