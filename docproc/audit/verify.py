"""Verifying the chain: in the database (a range or all of it) and in an exported file alone."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docproc.pipeline.files import sha256_file

from .chain import GENESIS, PURGE_KEY, ChainReport, Problem, is_purged, parse_export_lines, verify_events
from .export import csv_event, iter_events, manifest_path
from .models import AuditEvent


def _sorted(report: ChainReport, extra: list[Problem]) -> ChainReport:
    problems = (report.problems or []) + extra
    problems.sort(key=lambda p: (p.seq if p.seq is not None else float("inf"), p.line or 0))
    report.problems = problems
    return report


def verify_database(*, from_seq: int | None = None, to_seq: int | None = None,
                    anchor: tuple[int, str] | None = None) -> ChainReport:
    """Check the chain stored in the database, from ``from_seq`` (default 1) to ``to_seq``
    (default the head). Every purged payload must point at a ``retention.purged`` event of the
    same document. ``anchor`` (seq, hash), from an earlier manifest, must still be in the chain:
    that catches a tail cut off or rewritten since."""
    start = from_seq or 1
    expect_prev = GENESIS
    extra: list[Problem] = []
    if start > 1:
        row = AuditEvent.objects.filter(seq=start - 1).values_list("hash", flat=True).first()
        if row is None:
            extra.append(Problem(start - 1, None, "gap", "the event before the range is missing"))
            expect_prev = None
        else:
            expect_prev = row
    qs = AuditEvent.objects.filter(seq__gte=start)
    if to_seq is not None:
        qs = qs.filter(seq__lte=to_seq)
    purge_refs: dict[int, tuple[int, str | None]] = {}

    def watched() -> Iterator[dict[str, Any]]:
        for e in iter_events(qs):
            if is_purged(e["payload"]):
                marker = e["payload"][PURGE_KEY]
                ref = marker.get("event") if isinstance(marker, dict) else None
                if not isinstance(ref, int):
                    extra.append(Problem(e["seq"], None, "purge_marker", "a purged payload names no purge event"))
                elif ref not in purge_refs:
                    purge_refs[ref] = (e["seq"], e["document_id"])
            yield e

    report = verify_events(watched(), expect_prev=expect_prev, start_seq=start)
    if to_seq is not None and (report.last_seq or start - 1) < to_seq:
        head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        if head >= to_seq:
            extra.append(Problem((report.last_seq or start - 1) + 1, None, "gap", "missing up to the end of the range"))
    refs = list(purge_refs.items())
    for i in range(0, len(refs), 1000):
        chunk = dict(refs[i : i + 1000])
        found = {seq: (action, str(doc) if doc else None) for seq, action, doc in
                 AuditEvent.objects.filter(seq__in=list(chunk)).values_list("seq", "action", "document_id")}
        for ref, (row_seq, doc) in chunk.items():
            if ref not in found or found[ref][0] != "retention.purged" or found[ref][1] != doc:
                extra.append(Problem(row_seq, None, "purge_marker",
                                     f"purged, but event {ref} is not a retention purge of the same document"))
    if anchor is not None:
        seq, expected = anchor
        actual = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
        if actual != expected:
            extra.append(Problem(seq, None, "anchor", "the event a manifest recorded is missing or has another hash"))
    return _sorted(report, extra)


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(data, dict) or "sha256" not in data:
        raise ValueError(f"{path} is not an audit export manifest")
    return data


def verify_file(path: Path, *, fmt: str | None = None, manifest: Path | None = None,
                use_manifest: bool = True, allow_gaps: bool = False) -> tuple[ChainReport, dict[str, Any] | None]:
    """Check an exported file without the database: every line is a canonical, complete event
    whose hash and payload digest match, linked to the one before it. When a manifest is given,
    or sits next to the file (``FILE.manifest.json``), the file's SHA-256, count, first and
    last event must match it, and it says whether the export is a contiguous piece of the chain
    or a filtered one (whose gaps are expected). Without a manifest the file must be contiguous
    unless ``allow_gaps``; then lines are linked only where their numbers are consecutive."""
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    manifest = manifest or manifest_path(path)
    meta = load_manifest(manifest) if use_manifest and manifest.exists() else None
    extra: list[Problem] = []
    purge_refs: dict[int, tuple[int, str | None]] = {}
    purges_seen: dict[int, str | None] = {}

    def watched() -> Iterator[dict[str, Any]]:
        # A purged payload must point at a retention purge of the same document; checked for
        # purge events inside the file (one outside it can only be checked in the database).
        for e in events():
            if e["action"] == "retention.purged":
                purges_seen[e["seq"]] = e["document_id"]
            if is_purged(e["payload"]):
                marker = e["payload"][PURGE_KEY]
                ref = marker.get("event") if isinstance(marker, dict) else None
                if not isinstance(ref, int):
                    extra.append(Problem(e["seq"], None, "purge_marker", "a purged payload names no purge event"))
                else:
                    purge_refs.setdefault(ref, (e["seq"], e["document_id"]))
            yield e

    def events() -> Iterator[dict[str, Any]]:
        if fmt == "jsonl":
            with path.open("rb") as fh:
                for _, item in parse_export_lines(fh):
                    if isinstance(item, Problem):
                        extra.append(item)
                    else:
                        yield item
        else:
            with path.open("r", encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                for number, row in enumerate(reader, 2):
                    try:
                        yield csv_event(row)
                    except (KeyError, ValueError, TypeError) as exc:
                        extra.append(Problem(None, number, "format", f"bad row: {exc}"))

    contiguous = bool(meta.get("contiguous")) if meta is not None else not allow_gaps
    report = verify_events(
        watched(), contiguous=contiguous,
        expect_prev=meta.get("first_prev_hash") if meta is not None and contiguous else None,
        start_seq=meta.get("first_seq") if meta is not None and contiguous else None,
    )
    for ref, (row_seq, doc) in purge_refs.items():
        in_file = report.first_seq is not None and report.first_seq <= ref <= (report.last_seq or 0)
        if in_file and contiguous and purges_seen.get(ref, "missing") != doc:
            extra.append(Problem(row_seq, None, "purge_marker",
                                 f"purged, but event {ref} is not a retention purge of the same document"))
    if meta is not None:
        actual_sha = sha256_file(path)
        if actual_sha != meta.get("sha256"):
            extra.append(Problem(None, 0, "sha256", f"the file's SHA-256 is {actual_sha}, the manifest says {meta.get('sha256')}"))
        for key, actual in (("count", report.checked), ("first_seq", report.first_seq),
                            ("last_seq", report.last_seq), ("last_hash", report.last_hash)):
            if meta.get(key) != actual:
                extra.append(Problem(None, 0, "manifest", f"{key} is {actual!r}, the manifest says {meta.get(key)!r}"))
    return _sorted(report, extra), meta


def summary(report: ChainReport) -> str:
    parts = [f"{report.checked} events"]
    if report.checked:
        parts.append(f"seq {report.first_seq}..{report.last_seq}")
        parts.append(f"last hash {report.last_hash}")
    if report.purged:
        parts.append(f"{report.purged} purged payloads")
    if report.masked:
        parts.append(f"{report.masked} masked payloads")
    return ", ".join(parts)


__all__ = ["load_manifest", "summary", "verify_database", "verify_file"]
