"""Streaming exports of the audit log (JSON Lines and CSV) with their manifests, and masking.

Exports read the table in ``seq`` order through a chunked iterator and write as they go, so
memory stays flat whatever the number of events. A JSON Lines export carries everything needed
to verify it without the database (``audit_verify --file``): the hashed fields, ``prev_hash``,
``hash``, and the payload (or its purge marker, or its masked form with ``payload_masked``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .actions import ACTIONS
from .chain import EXPORT_FIELDS, at_text, canonical, export_line, is_purged
from .models import AuditEvent

MASK = "[masked]"
FORMATS = ("jsonl", "csv")
CHUNK = 2000
_COLUMNS = ("seq", "at", "actor_type", "actor", "action", "object_type", "object_id", "document_id",
            "payload_digest", "request_id", "client_ip", "prev_hash", "hash", "payload")


class BadFilter(ValueError):
    """A filter value that cannot be understood; the message says which and why."""


MAX_SEQ = 2**63 - 1  # a bigint column: a larger bound is no event's number


def _when(value: str, *, end: bool) -> datetime:
    try:
        dt = parse_datetime(value)
        d = parse_date(value) if dt is None else None
    except ValueError:  # the right shape, an impossible date (2024-13-01)
        dt = d = None
    if dt is None:
        if d is None:
            raise BadFilter(f"{value!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM)")
        # A bare date means the whole day: 'until 2026-11-28' includes that day.
        dt = datetime.combine(d + timedelta(days=1) if end else d, time.min)
    if timezone.is_naive(dt):
        dt = timezone.make_aware(dt, timezone.get_current_timezone())
    return dt


class AuditFilterForm(forms.Form):
    """The filter as the auditor UI, the export, the manifest URL and ``audit_export`` receive it:
    every value checked here, so a bad one is a message, never a server error."""

    since = forms.CharField(required=False, max_length=40)
    until = forms.CharField(required=False, max_length=40)
    actor = forms.CharField(required=False, max_length=200)
    action = forms.CharField(required=False, max_length=60)
    document = forms.UUIDField(required=False, error_messages={"invalid": "document must be a document id (UUID)"})
    from_seq = forms.IntegerField(required=False, min_value=1, max_value=MAX_SEQ)
    to_seq = forms.IntegerField(required=False, min_value=1, max_value=MAX_SEQ)

    def _clean_time(self, name: str, *, end: bool) -> datetime | None:
        value = self.cleaned_data[name].strip()
        if not value:
            return None
        try:
            return _when(value, end=end)
        except BadFilter as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_since(self) -> datetime | None:
        return self._clean_time("since", end=False)

    def clean_until(self) -> datetime | None:
        return self._clean_time("until", end=True)

    def clean_action(self) -> str:
        action = self.cleaned_data["action"].strip()
        if action and action not in ACTIONS:
            raise forms.ValidationError(f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
        return action

    def first_error(self) -> str:
        name, errors = next(iter(self.errors.items()))
        message = str(errors[0])
        return message if name in message or name == "__all__" else f"{name}: {message}"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events an auditor looks at or exports. Times are inclusive of ``since`` and
    exclusive of ``until``."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    action: str = ""
    document: uuid.UUID | None = None
    from_seq: int | None = None
    to_seq: int | None = None

    @classmethod
    def parse(cls, raw: Any) -> AuditFilter:
        """The filter from request parameters or command options; BadFilter names the bad value."""
        data = {name: ("" if raw.get(name) is None else str(raw.get(name)).strip()) for name in AuditFilterForm.base_fields}
        form = AuditFilterForm(data)
        if not form.is_valid():
            raise BadFilter(form.first_error())
        c = form.cleaned_data
        return cls(since=c["since"], until=c["until"], actor=c["actor"].strip(), action=c["action"],
                   document=c["document"], from_seq=c["from_seq"], to_seq=c["to_seq"])

    def apply(self, qs):
        if self.since:
            qs = qs.filter(at__gte=self.since)
        if self.until:
            qs = qs.filter(at__lt=self.until)
        if self.actor:
            qs = qs.filter(actor=self.actor)
        if self.action:
            qs = qs.filter(action=self.action)
        if self.document:
            qs = qs.filter(document_id=self.document)
        if self.from_seq is not None:
            qs = qs.filter(seq__gte=self.from_seq)
        if self.to_seq is not None:
            qs = qs.filter(seq__lte=self.to_seq)
        return qs

    @property
    def selects_a_range(self) -> bool:
        """True when only sequence bounds apply, so the export is a contiguous piece of the chain."""
        return not (self.since or self.until or self.actor or self.action or self.document)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value in (None, ""):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, uuid.UUID) else value
        return out

    def query_string(self) -> str:
        from urllib.parse import urlencode

        return urlencode(self.as_dict())


# --- masking -----------------------------------------------------------------------------------

def mask_for_everyone() -> bool:
    return bool(getattr(settings, "DOCPROC_AUDIT_MASK_VALUES", False))


def user_sees_values(user) -> bool:
    """Whether ``user`` sees field values in audit payloads, correction histories and every export
    (the one masking rule of the audit UI, the document page and the CSV exports): not when
    DOCPROC_AUDIT_MASK_VALUES is on; otherwise superusers and members of
    DOCPROC_AUDIT_UNMASKED_GROUPS (default: auditor, admin) do, supervisors do not."""
    if mask_for_everyone():
        return False
    if user.is_superuser:
        return True
    groups = set(getattr(settings, "DOCPROC_AUDIT_UNMASKED_GROUPS", ("auditor", "admin")))
    return user.groups.filter(name__in=groups).exists()


def mask_value(value: Any) -> Any:
    """A field value as a user who may not see values sees it (None stays None: nothing to hide)."""
    return None if value is None else MASK


def mask_payload(action: str, payload: Any) -> tuple[Any, bool]:
    """The payload with the values of its sensitive keys replaced by ``[masked]``; an action
    outside the vocabulary has its whole payload masked. Returns (payload, whether it changed)."""
    if not isinstance(payload, dict) or not payload or is_purged(payload):
        return payload, False
    spec = ACTIONS.get(action)
    if spec is None:
        return {key: MASK for key in payload}, True
    hits = [key for key in spec.sensitive if key in payload]
    if not hits:
        return payload, False
    return {key: (MASK if key in hits else value) for key, value in payload.items()}, True


# --- reading -----------------------------------------------------------------------------------

def _at_text(value: Any) -> str:
    """The hashed time text of a raw database value: SQLite gives UTC as naive datetimes (or
    text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'), PostgreSQL aware datetimes."""
    if isinstance(value, str):
        return value.replace(" ", "T", 1) + "+00:00"
    if value.tzinfo is None:
        return value.isoformat() + "+00:00"
    return at_text(value)


def _uuid_text(value: Any) -> str | None:
    if not value:
        return None
    if isinstance(value, str) and len(value) == 32:  # SQLite keeps UUIDs as 32 hex digits
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(uuid.UUID(str(value)))


def iter_events(qs, *, mask: bool = False) -> Iterator[dict[str, Any]]:
    """Events of ``qs`` in ``seq`` order as chain dicts (chain.EXPORT_FIELDS), read in chunks.

    The query is the ORM's, but rows are read from a chunked cursor (a server-side cursor on
    PostgreSQL) and converted here: Django's per-value converters cost more than the export's
    own work."""
    sql, params = qs.order_by("seq").values_list(*_COLUMNS).query.sql_with_params()
    loads = json.loads
    with connection.chunked_cursor() as cur:
        cur.execute(sql, params)
        while rows := cur.fetchmany(CHUNK):
            for (seq, at, actor_type, actor, action, object_type, object_id, document_id, payload_digest,
                 request_id, client_ip, prev_hash, hash_, payload) in rows:
                if isinstance(payload, str | bytes):
                    payload = loads(payload)
                masked = False
                if mask:
                    payload, masked = mask_payload(action, payload)
                yield {
                    "seq": seq, "at": _at_text(at), "actor_type": actor_type, "actor": actor, "action": action,
                    "object_type": object_type, "object_id": object_id, "document_id": _uuid_text(document_id),
                    "payload_digest": payload_digest, "request_id": request_id,
                    "client_ip": str(client_ip) if client_ip else None,
                    "prev_hash": prev_hash, "hash": hash_, "payload": payload, "payload_masked": masked,
                }


# --- encoding ----------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def csv_cell(value: str) -> str:
    """Text a spreadsheet will not run as a formula: a leading ``'`` is added before a value that
    starts with = + - @ tab, CR or ' (and removed again by ``csv_uncell``)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_uncell(value: str) -> str:
    return value[1:] if value.startswith("'") else value


def csv_row(e: dict[str, Any]) -> list[Any]:
    """One CSV row in EXPORT_FIELDS order. Free text is escaped with ``csv_cell``; seq, time,
    action, hashes, ids and addresses never start with a formula character."""
    return [
        e["seq"], e["at"], csv_cell(e["actor_type"]), csv_cell(e["actor"]), e["action"], csv_cell(e["object_type"]),
        csv_cell(e["object_id"]), e["document_id"] or "", e["payload_digest"], csv_cell(e["request_id"]),
        e["client_ip"] or "", e["prev_hash"], e["hash"], canonical(e["payload"]), "1" if e["payload_masked"] else "0",
    ]


def csv_event(row: dict[str, str]) -> dict[str, Any]:
    """The chain dict of one CSV row written by ``csv_row``."""
    e: dict[str, Any] = {key: csv_uncell(row[key]) for key in EXPORT_FIELDS if key not in ("payload", "payload_masked")}
    e["seq"] = int(e["seq"])
    e["document_id"] = e["document_id"] or None
    e["client_ip"] = e["client_ip"] or None
    e["payload"] = json.loads(row["payload"])
    e["payload_masked"] = row["payload_masked"] == "1"
    return e


def encode(events: Iterable[dict[str, Any]], fmt: str, *, batch_bytes: int = 256 * 1024) -> Iterator[bytes]:
    """The export file's bytes, in batches of about ``batch_bytes``."""
    if fmt not in FORMATS:
        raise BadFilter(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    parts: list[str] = []
    size = 0
    if fmt == "jsonl":
        for e in events:
            line = export_line(e) + "\n"
            parts.append(line)
            size += len(line)
            if size >= batch_bytes:
                yield "".join(parts).encode()
                parts, size = [], 0
    else:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(EXPORT_FIELDS)
        for e in events:
            writer.writerow(csv_row(e))
            if buf.tell() >= batch_bytes:
                yield buf.getvalue().encode()
                buf.seek(0)
                buf.truncate()
        parts.append(buf.getvalue())
    if parts:
        yield "".join(parts).encode()


@dataclass(slots=True)
class Tally:
    """What a manifest says about an export, filled in while it streams."""

    count: int = 0
    first_seq: int | None = None
    first_prev_hash: str | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    masked: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    bytes: int = 0

    def watch(self, events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for e in events:
            self.count += 1
            if self.first_seq is None:
                self.first_seq, self.first_prev_hash = e["seq"], e["prev_hash"]
            self.last_seq, self.last_hash = e["seq"], e["hash"]
            self.masked += bool(e["payload_masked"])
            yield e

    def hash_bytes(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.sha256.update(chunk)
            self.bytes += len(chunk)
            yield chunk


def head_seq() -> int:
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    return last or 0


def bounded(flt: AuditFilter) -> AuditFilter:
    """``flt`` with ``to_seq`` pinned to the current chain head, so the export (and a manifest
    computed later for it) is the same set of events whatever is appended meanwhile."""
    head = head_seq()
    to_seq = head if flt.to_seq is None else min(flt.to_seq, head)
    return AuditFilter(flt.since, flt.until, flt.actor, flt.action, flt.document, flt.from_seq, to_seq)


def stream(flt: AuditFilter, fmt: str, *, mask: bool, tally: Tally | None = None) -> Iterator[bytes]:
    events = iter_events(flt.apply(AuditEvent.objects.all()), mask=mask)
    if tally is not None:
        return tally.hash_bytes(encode(tally.watch(events), fmt))
    return encode(events, fmt)


def manifest(tally: Tally, *, flt: AuditFilter, fmt: str, mask: bool, file_name: str, exported_by: str) -> dict[str, Any]:
    return {
        "file": file_name,
        "format": fmt,
        "sha256": tally.sha256.hexdigest(),
        "bytes": tally.bytes,
        "count": tally.count,
        "first_seq": tally.first_seq,
        "first_prev_hash": tally.first_prev_hash,
        "last_seq": tally.last_seq,
        "last_hash": tally.last_hash,
        "contiguous": flt.selects_a_range,
        "filters": flt.as_dict(),
        "masked": mask,
        "masked_events": tally.masked,
        "exported_at": at_text(timezone.now()),
        "exported_by": exported_by,
    }


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def export_to_file(path: Path, flt: AuditFilter, fmt: str, *, mask: bool, exported_by: str) -> dict[str, Any]:
    """Write the export and its manifest (``FILE.manifest.json``); returns the manifest. The
    caller records the ``audit.exported`` event."""
    flt = bounded(flt)
    tally = Tally()
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("wb") as fh:
        for chunk in stream(flt, fmt, mask=mask, tally=tally):
            fh.write(chunk)
    tmp.replace(path)
    data = manifest(tally, flt=flt, fmt=fmt, mask=mask, file_name=path.name, exported_by=exported_by)
    manifest_path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data
