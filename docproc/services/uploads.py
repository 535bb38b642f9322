"""Uploads: store a file a client sent, dedupe it, audit it, and queue its pipeline after commit."""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction

from docproc import dispatch
from docproc.api.throttling import MinuteTally
from docproc.audit.service import Actor, record
from docproc.doctypes import UnknownDocType, get_doctype
from docproc.logging import request_id_var
from docproc.models import ApiClient, Document, DocumentStatus
from docproc.pipeline.ingest import sniff_content_type, unsupported_detail
from docproc.results import jsonable
from docproc.storage import scratch_dir

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


class _KeyReused(Exception):
    def __init__(self, document: Document) -> None:
        super().__init__(str(document.pk))
        self.document = document


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    document: Document
    created: bool


def request_fingerprint(*, client_id, sha256: str, doc_type: str, external_ref: str) -> str:
    """What an Idempotency-Key is bound to: the client, the bytes, the type and the reference."""
    raw = "\n".join((str(client_id), sha256, doc_type, external_ref[:200]))
    return hashlib.sha256(raw.encode()).hexdigest()


def _document_fingerprint(doc: Document) -> str:
    return request_fingerprint(client_id=doc.client_id, sha256=doc.sha256, doc_type=doc.doc_type,
                               external_ref=doc.external_ref)


# Refusals are audited, but a flood must cost a counter, not a chain row per request: per client
# and code, refusals are counted per minute in Redis and written as one event with the count once
# the minute is over (the same mechanism as failed API authentications, see MinuteTally).

def _upload_refusals_write(member: str, counts: dict[str, int], first: dict, start) -> None:
    record(actor=Actor("api_client", first.get("client", "")), action="document.upload_refused",
           client_ip=first.get("client_ip"), request_id=first.get("request_id") or "",
           payload={"code": first.get("code", member.rpartition("|")[2]), "detail": first.get("detail", ""),
                    "file": first.get("file", ""), **first.get("extra", {}), "count": counts["refused"],
                    "window_start": start.isoformat(), "window_seconds": 60})


UPLOAD_REFUSALS = MinuteTally("upload-refused", ("refused",), _upload_refusals_write)


def upload_refusal_record(*, client: ApiClient, code: str, detail: str, client_ip: str | None = None,
                          file_name: str = "", **extra: Any) -> None:
    """Audit a refused upload as ``document.upload_refused`` with its code: one event per client,
    code and minute with ``count`` (and the first refusal's detail, file and address), written
    once the minute is over (``flush_upload_refusals``). While Redis is down each refusal is
    written on its own, with count 1."""
    file = sanitize_filename(file_name) if file_name else ""
    first = {"client": client.name, "code": code, "detail": detail, "file": file, "client_ip": client_ip,
             "extra": jsonable(extra), "request_id": request_id_var.get() or ""}
    if UPLOAD_REFUSALS.seen(f"{client.pk}|{code}", counter="refused", first=first):
        return
    record(actor=Actor.client(client), action="document.upload_refused", client_ip=client_ip,
           payload={"code": code, "detail": detail, "file": file, **extra, "count": 1})


def flush_upload_refusals(*, now: float | None = None) -> int:
    """Write the per-client, per-code refusal counts of finished minutes; returns the events written."""
    return UPLOAD_REFUSALS.flush(now=now)


def _serialize_content(client_id, sha256: str) -> None:
    """Concurrent uploads of the same bytes by one client take turns (PostgreSQL: a lock held to
    the end of the transaction). SQLite transactions already take the write lock at BEGIN."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"upload:{client_id}:{sha256}".encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def document_upload(
    *,
    client: ApiClient,
    uploaded,
    doc_type: str,
    external_ref: str = "",
    idempotency_key: str = "",
    client_ip: str | None = None,
) -> UploadOutcome:
    """Store an upload and queue it, or answer the document this request already made.

    - An Idempotency-Key is bound to the request's fingerprint (client, SHA-256, doc_type,
      external_ref): the same key and fingerprint answer the original document; the same key with
      another fingerprint is refused ``409 idempotency_key_reused`` (audited).
    - The same bytes and type with the same ``external_ref`` answer the document already made;
      under another reference they make a new document with ``duplicate_of`` set, which reuses the
      earlier one's stage results and is delivered under its own reference. A purged, failed or
      rejected document is never answered as a duplicate.
    - Concurrent identical requests end with one document; the row and the stored file are
      written in one transaction, and a file whose row did not commit is removed.

    Refusals raise ``UploadRefused`` and are audited (counted per minute, see upload_refusal_record).
    """
    file_name = getattr(uploaded, "name", "") or ""
    external_ref = (external_ref or "")[:200]

    def refuse(code: str, detail: str, status: int = 400, **extra: Any) -> UploadRefused:
        upload_refusal_record(client=client, code=code, detail=detail, client_ip=client_ip, file_name=file_name, **extra)
        return UploadRefused(code, detail, status)

    try:
        get_doctype(doc_type)
    except UnknownDocType as exc:
        raise refuse("unknown_doc_type", str(exc).strip('"')) from None
    if not client.allows(doc_type):
        raise refuse("doc_type_not_allowed", f"This client may not upload documents of type {doc_type!r}.", 403)
    size = getattr(uploaded, "size", None) or 0
    if size > settings.DOCPROC_MAX_UPLOAD_BYTES:
        raise refuse("file_too_large", f"The file has {size} bytes; the limit is {settings.DOCPROC_MAX_UPLOAD_BYTES}.", 413)

    digest = hashlib.sha256()
    head = b""
    total = 0
    with tempfile.NamedTemporaryFile(prefix="upload-", dir=scratch_dir(), delete=False) as tmp:
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
        fingerprint = request_fingerprint(client_id=client.pk, sha256=sha, doc_type=doc_type, external_ref=external_ref)

        def replay(existing: Document) -> UploadOutcome:
            if _document_fingerprint(existing) == fingerprint:
                return UploadOutcome(existing, False)
            raise _KeyReused(existing)

        stored_name = ""
        try:
            with transaction.atomic():
                _serialize_content(client.pk, sha)
                if idempotency_key:
                    existing = Document.objects.filter(client=client, idempotency_key=idempotency_key[:200]).first()
                    if existing is not None:
                        return replay(existing)
                earlier = (Document.objects.filter(client=client, sha256=sha, doc_type=doc_type, purged_at__isnull=True)
                           .exclude(status__in=[S.FAILED, S.REJECTED]).order_by("created_at"))
                same = earlier.filter(external_ref=external_ref).first()
                if same is not None:
                    return UploadOutcome(same, False)
                original = earlier.filter(duplicate_of__isnull=True).first() or earlier.first()
                doc = Document(
                    client=client, external_ref=external_ref, idempotency_key=idempotency_key[:200], sha256=sha,
                    original_name=sanitize_filename(file_name), content_type=content_type,
                    size=total, doc_type=doc_type, duplicate_of=original,
                )
                # The row first (a racing request with the same key fails here, before any file is
                # written), then the file, in the same transaction.
                with transaction.atomic():
                    doc.save()
                with tmp_path.open("rb") as fh:
                    doc.file.save("original", File(fh), save=False)
                stored_name = doc.file.name
                doc.save(update_fields=["file"])
                payload = {"file": doc.original_name, "sha256": sha, "size": total, "content_type": content_type,
                           "doc_type": doc_type, "external_ref": doc.external_ref}
                if original is not None:
                    payload["duplicate_of"] = str(original.pk)
                record(actor=Actor.client(client), action="document.uploaded", object_type="document", object_id=doc.id,
                       document_id=doc.id, client_ip=client_ip, payload=payload)
                transaction.on_commit(lambda: dispatch.document_ingest_enqueue(doc.id))
            return UploadOutcome(doc, True)
        except IntegrityError:
            # Another request with this key committed first: answer as that request was answered.
            if stored_name:
                default_storage.delete(stored_name)
                stored_name = ""
            existing = Document.objects.filter(client=client, idempotency_key=idempotency_key[:200]).first() \
                if idempotency_key else None
            if existing is None:
                raise
            if _document_fingerprint(existing) == fingerprint:
                return UploadOutcome(existing, False)
            reused_by = existing
        except _KeyReused as reused:
            reused_by = reused.document
        except BaseException:
            if stored_name:
                default_storage.delete(stored_name)  # the row did not commit: leave no file alone
            raise
        # Audited here, outside the transaction that found the reuse (it was rolled back).
        raise refuse("idempotency_key_reused",
                     "This Idempotency-Key was used for another request (another file, doc_type or "
                     "external_ref); use a new key for a new document.", 409,
                     idempotency_key=idempotency_key[:200], document_id=str(reused_by.pk))
    finally:
        tmp_path.unlink(missing_ok=True)
