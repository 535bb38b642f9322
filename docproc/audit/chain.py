"""Canonical form and hashing of audit events (shared by writing, verifying and exports)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()


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


def event_hash(prev_hash: str, e: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(event_body(e))).encode()).hexdigest()
