"""Uploads: store a file a client sent, dedupe it, audit it, and queue its pipeline after commit."""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction

from docproc import dispatch
from docproc.audit.service import Actor, record
from docproc.doctypes import UnknownDocType, get_doctype
from docproc.models import ApiClient, Document, DocumentStatus
from docproc.pipeline.ingest import sniff_content_type, unsupported_detail

S = DocumentStatus


class UploadRefused(Exception):
    """An upload the API answers with a 4xx; nothing was stored."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


def sanitize_filename(name: str) -> str:
    """A display name safe anywhere: no directories, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot else name[:200]
    return name or "document"


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    document: Document
    created: bool


def document_upload(
    *,
    client: ApiClient,
    uploaded,
    doc_type: str,
    external_ref: str = "",
    idempotency_key: str = "",
    client_ip: str | None = None,
) -> UploadOutcome:
    """Store an upload and queue it, or return the document this key or content already made.

    Refusals (unknown type, empty, not a document, too large) raise ``UploadRefused`` and are
    audited; an accepted file is on disk and in the database before anything is queued.
    """
    actor = Actor.client(client)

    def refuse(code: str, detail: str, status: int = 400) -> UploadRefused:
        record(actor=actor, action="document.upload_refused", client_ip=client_ip,
               payload={"code": code, "detail": detail, "file": sanitize_filename(getattr(uploaded, "name", ""))})
        return UploadRefused(code, detail, status)

    try:
        get_doctype(doc_type)
    except UnknownDocType as exc:
        raise refuse("unknown_doc_type", str(exc).strip('"')) from None
    if not client.allows(doc_type):
        raise refuse("doc_type_not_allowed", f"This client may not upload documents of type {doc_type!r}.", 403)
    if idempotency_key:
        existing = Document.objects.filter(client=client, idempotency_key=idempotency_key).first()
        if existing is not None:
            return UploadOutcome(existing, False)
    size = getattr(uploaded, "size", None) or 0
    if size > settings.DOCPROC_MAX_UPLOAD_BYTES:
        raise refuse("file_too_large", f"The file has {size} bytes; the limit is {settings.DOCPROC_MAX_UPLOAD_BYTES}.", 413)

    digest = hashlib.sha256()
    head = b""
    total = 0
    with tempfile.NamedTemporaryFile(prefix="upload-", dir=_tmp_dir(), delete=False) as tmp:
        for chunk in uploaded.chunks():
            total += len(chunk)
            if total > settings.DOCPROC_MAX_UPLOAD_BYTES:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise refuse("file_too_large", f"The file is larger than {settings.DOCPROC_MAX_UPLOAD_BYTES} bytes.", 413)
            if len(head) < 1024:
                head += chunk[: 1024 - len(head)]
            digest.update(chunk)
            tmp.write(chunk)
        tmp_path = Path(tmp.name)
    try:
        if total == 0:
            raise refuse("empty_file", "The file is empty.")
        content_type = sniff_content_type(head)
        if content_type is None:
            raise refuse("unsupported_type", unsupported_detail(head), 415)
        sha = digest.hexdigest()
        with transaction.atomic():
            same = Document.objects.filter(client=client, sha256=sha, doc_type=doc_type).exclude(
                status__in=[S.FAILED, S.REJECTED]).first()
            if same is not None:
                return UploadOutcome(same, False)
            doc = Document(
                client=client, external_ref=external_ref[:200], idempotency_key=idempotency_key[:200], sha256=sha,
                original_name=sanitize_filename(getattr(uploaded, "name", "")), content_type=content_type,
                size=total, doc_type=doc_type,
            )
            with tmp_path.open("rb") as fh:
                doc.file.save("original", File(fh), save=False)
            doc.save()
            record(actor=actor, action="document.uploaded", object_type="document", object_id=doc.id,
                   document_id=doc.id, client_ip=client_ip,
                   payload={"file": doc.original_name, "sha256": sha, "size": total, "content_type": content_type,
                            "doc_type": doc_type, "external_ref": doc.external_ref})
            transaction.on_commit(lambda: dispatch.document_ingest_enqueue(doc.id))
        return UploadOutcome(doc, True)
    finally:
        tmp_path.unlink(missing_ok=True)


def _tmp_dir() -> str:
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
