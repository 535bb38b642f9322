"""Canonical form and hashing of audit events (shared by writing, verifying and exports).

``hash = SHA-256(prev_hash + canonical JSON of the event body)``. The body holds every column but
the payload, which enters through its digest: a retention purge can replace a payload with a
marker and the chain still verifies. This module has no Django imports, so an exported file can
be verified anywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring as _encode_str  # what ensure_ascii=False uses
from typing import Any

GENESIS = "0" * 64

BODY_FIELDS = (
    "seq", "at", "actor_type", "actor", "action", "object_type", "object_id", "document_id",
    "payload_digest", "request_id", "client_ip",
)
# One exported line / row: the hashed body, the links, and the payload (or its purge marker).
EXPORT_FIELDS = (*BODY_FIELDS, "prev_hash", "hash", "payload", "payload_masked")

PURGE_KEY = "_purged"


# One encoder, built once: json.dumps with options builds a new one per call, which costs as
# much as encoding a small event.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical(obj: Any) -> str:
    return _CANONICAL.encode(obj)


def _s(value: str | None) -> str:
    """A JSON string (or null) exactly as ``canonical`` writes it."""
    return "null" if value is None else _encode_str(value)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


def at_text(at: datetime) -> str:
    """The hashed form of an event's time: ISO 8601 in UTC."""
    return at.astimezone(UTC).isoformat()


def event_body(e: dict[str, Any]) -> dict[str, Any]:
    """The hashed part of an event: everything but the payload itself, which enters by digest
    so that a retention purge can blank it while the chain still verifies."""
    return {
        "seq": e["seq"],
        "at": e["at"],
        "actor_type": e["actor_type"],
        "actor": e["actor"],
        "action": e["action"],
        "object_type": e["object_type"],
        "object_id": e["object_id"],
        "document_id": e["document_id"],
        "payload_digest": e["payload_digest"],
        "request_id": e["request_id"],
        "client_ip": e["client_ip"],
    }


def body_text(e: dict[str, Any]) -> str:
    """``canonical(event_body(e))``, written out in sorted key order (faster; tested equal)."""
    return (
        f'{{"action":{_s(e["action"])},"actor":{_s(e["actor"])},"actor_type":{_s(e["actor_type"])},'
        f'"at":{_s(e["at"])},"client_ip":{_s(e["client_ip"])},"document_id":{_s(e["document_id"])},'
        f'"object_id":{_s(e["object_id"])},"object_type":{_s(e["object_type"])},'
        f'"payload_digest":{_s(e["payload_digest"])},"request_id":{_s(e["request_id"])},"seq":{int(e["seq"])}}}'
    )


def event_hash(prev_hash: str, e: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + body_text(e)).encode()).hexdigest()


def is_purged(payload: Any) -> bool:
    return isinstance(payload, dict) and len(payload) == 1 and PURGE_KEY in payload


def purge_marker(*, purge_seq: int, at: str) -> dict[str, Any]:
    """What replaces a purged payload: when, and the ``retention.purged`` event that did it."""
    return {PURGE_KEY: {"at": at, "event": purge_seq}}


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int | None
    line: int | None
    code: str  # gap | reordered | prev_hash | hash | payload_digest | format | unpurged_marker ...
    detail: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else f"line {self.line}"
        return f"{where}: {self.code}: {self.detail}"


@dataclass(slots=True)
class ChainReport:
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    purged: int = 0
    masked: int = 0
    problems: list[Problem] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        return self.problems[0].seq if self.problems else None


def verify_events(
    events: Iterable[dict[str, Any]],
    *,
    expect_prev: str | None = None,
    start_seq: int | None = None,
    contiguous: bool = True,
    max_problems: int = 20,
) -> ChainReport:
    """Check a run of events in ``seq`` order: each hash, each payload digest (unless purged or
    masked), and that each ``prev_hash`` is the hash of the event before it wherever the two are
    consecutive. With ``contiguous`` a gap in ``seq`` is a problem too. ``start_seq`` and
    ``expect_prev`` say what must come first (1 and ``GENESIS`` for a whole chain). Stops
    collecting after ``max_problems``."""
    report = ChainReport(problems=[])
    problems = report.problems
    assert problems is not None
    prev_seq: int | None = None if start_seq is None else start_seq - 1
    prev_hash: str | None = expect_prev
    for e in events:
        seq = e["seq"]
        report.checked += 1
        if report.first_seq is None:
            report.first_seq = seq
        if len(problems) < max_problems:
            linked = prev_seq is not None and seq == prev_seq + 1
            if prev_seq is not None and seq <= prev_seq:
                problems.append(Problem(seq, None, "reordered", f"follows seq {prev_seq}"))
            elif contiguous and prev_seq is not None and not linked:
                problems.append(Problem(prev_seq + 1, None, "gap",
                                        f"seq {prev_seq + 1}..{seq - 1} missing (next present is {seq})"))
            if (linked or contiguous) and prev_hash is not None and e["prev_hash"] != prev_hash:
                problems.append(Problem(seq, None, "prev_hash", "does not match the hash of the event before it"))
            if event_hash(e["prev_hash"], e) != e["hash"]:
                problems.append(Problem(seq, None, "hash", "the stored hash does not match the event's fields"))
            payload = e.get("payload")
            if is_purged(payload):
                report.purged += 1
            elif e.get("payload_masked"):
                report.masked += 1
            elif digest(payload) != e["payload_digest"]:
                problems.append(Problem(seq, None, "payload_digest", "the payload does not match its digest"))
        prev_seq, prev_hash = seq, e["hash"]
    if report.checked:
        report.last_seq, report.last_hash = prev_seq, prev_hash
    return report


def export_line(e: dict[str, Any]) -> str:
    """One JSON Lines record: exactly ``canonical`` of the event's EXPORT_FIELDS, so that
    re-encoding a parsed line gives the same bytes. Written out field by field in sorted key
    order (the payload through the canonical encoder), which is twice as fast as encoding a
    dict and sorting its keys; tests/audit/test_export.py checks the two agree."""
    return (
        f'{{"action":{_s(e["action"])},"actor":{_s(e["actor"])},"actor_type":{_s(e["actor_type"])},'
        f'"at":{_s(e["at"])},"client_ip":{_s(e["client_ip"])},"document_id":{_s(e["document_id"])},'
        f'"hash":{_s(e["hash"])},"object_id":{_s(e["object_id"])},"object_type":{_s(e["object_type"])},'
        f'"payload":{_CANONICAL.encode(e["payload"])},"payload_digest":{_s(e["payload_digest"])},'
        f'"payload_masked":{"true" if e["payload_masked"] else "false"},"prev_hash":{_s(e["prev_hash"])},'
        f'"request_id":{_s(e["request_id"])},"seq":{int(e["seq"])}}}'
    )


def parse_export_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any] | Problem]]:
    """Parse an exported JSON Lines file; yields (line number, event) or (line number, Problem)
    for a line that is not exactly the canonical encoding of a complete event."""
    for number, raw in enumerate(lines, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, Problem(None, number, "format", "not UTF-8")
            continue
        if not text.endswith("\n"):
            yield number, Problem(None, number, "format", "line does not end with a newline")
            continue
        text = text[:-1]
        try:
            obj = json.loads(text)
        except ValueError as exc:
            yield number, Problem(None, number, "format", f"not JSON: {exc}")
            continue
        if not isinstance(obj, dict) or set(obj) != set(EXPORT_FIELDS):
            yield number, Problem(None, number, "format", f"expected exactly the fields {', '.join(EXPORT_FIELDS)}")
            continue
        if export_line(obj) != text:
            yield number, Problem(obj.get("seq"), number, "format", "not in canonical form (bytes were changed)")
            continue
        yield number, obj


def verify_jsonl(path: str, *, allow_gaps: bool = False) -> ChainReport:
    """Verify an exported JSON Lines file with nothing but the standard library (no manifest)."""
    problems: list[Problem] = []

    def events() -> Iterator[dict[str, Any]]:
        with open(path, "rb") as fh:  # noqa: PTH123 - no pathlib needed for a stand-alone check
            for _, item in parse_export_lines(fh):
                if isinstance(item, Problem):
                    problems.append(item)
                else:
                    yield item

    report = verify_events(events(), contiguous=not allow_gaps)
    report.problems = sorted((report.problems or []) + problems,
                             key=lambda p: (p.seq if p.seq is not None else float("inf"), p.line or 0))
    return report


if __name__ == "__main__":
    # An auditor can check an export anywhere Python runs: python chain.py EXPORT.jsonl [--allow-gaps]
    import sys

    args = [a for a in sys.argv[1:] if a != "--allow-gaps"]
    if len(args) != 1:
        sys.exit("usage: python chain.py EXPORT.jsonl [--allow-gaps]")
    result = verify_jsonl(args[0], allow_gaps="--allow-gaps" in sys.argv)
    if result.ok:
        print(f"OK: {result.checked} events, seq {result.first_seq}..{result.last_seq}, last hash {result.last_hash}")
        sys.exit(0)
    for problem in result.problems or []:
        print(f"  {problem}", file=sys.stderr)
    sys.exit(f"FAILED: first bad sequence number: {result.first_bad_seq}")
