"""Audit log benchmark: export speed and peak memory, verification speed.

Runs against its own fresh SQLite database in the output folder (never the configured one):
``migrate``, then a seeded chain of N events with realistic payloads, then the real commands
(``audit_export``, ``audit_verify``) as separate processes, each one's peak resident memory
read from the operating system (``wait4``). Exports of N/10 and N events show whether memory
stays flat as the export grows.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_RATE = re.compile(r"([\d,]+) events/s\)")
_COUNT = re.compile(r"(?:exported |: )(\d+) events")


def seed(n: int, *, batch: int = 5000) -> int:
    """Append ``n`` chained events to the configured database (bench use only: bulk insert,
    same hashing as ``record``). Returns the head's seq."""
    from django.db import transaction

    from docproc.audit.chain import GENESIS, at_text, digest, event_hash
    from docproc.audit.models import AuditEvent

    last = AuditEvent.objects.order_by("-seq").values("seq", "hash").first()
    seq, prev = (last["seq"], last["hash"]) if last else (0, GENESIS)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    docs = [uuid.UUID(int=i + 1) for i in range(max(1, n // 20))]
    rows: list[AuditEvent] = []
    for i in range(n):
        seq += 1
        doc = docs[i % len(docs)]
        kind = i % 10
        if kind < 4:
            action, actor, payload = "document.status_changed", ("worker", "pipeline"), {"before": "processing", "after": "needs_review"}
        elif kind < 7:
            action, actor, payload = "pipeline.stage_finished", ("worker", "pipeline"), {"stage": "extract", "seconds": {"ocr": 1.25, "extract": 0.5}}
        elif kind < 9:
            action, actor, payload = "field.edited", ("user", f"reviewer{i % 7}"), {
                "field": "claimant_address", "before": "12 Maple Avenue, Springfield IL 62704",
                "after": "12 Maple Avenue, Springfield, IL 62704", "reason": "ocr_error", "note": ""}
        else:
            action, actor, payload = "model.called", ("model", "qwen2.5-1.5b-instruct"), {
                "prompt_version": "claim-v3", "tokens_in": 1412, "tokens_out": 188, "seconds": 2.4,
                "output": {"claim_number": "CLM-2024-123456", "amount_claimed": "1,234.50"}}
        at = start + timedelta(milliseconds=i)
        data = {"seq": seq, "at": at_text(at), "actor_type": actor[0], "actor": actor[1], "action": action,
                "object_type": "document", "object_id": str(doc), "document_id": str(doc),
                "payload_digest": digest(payload), "request_id": f"req{i:010d}", "client_ip": "10.0.0.7"}
        h = event_hash(prev, data)
        rows.append(AuditEvent(seq=seq, at=at, actor_type=actor[0], actor=actor[1], action=action,
                               object_type="document", object_id=str(doc), document_id=doc, payload=payload,
                               payload_digest=data["payload_digest"], request_id=data["request_id"],
                               client_ip="10.0.0.7", prev_hash=prev, hash=h))
        prev = h
        if len(rows) >= batch:
            with transaction.atomic():
                AuditEvent.objects.bulk_create(rows)
            rows = []
    if rows:
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows)
    return seq


def measure(args: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``manage.py args`` in ``ROOT``; its stdout/stderr go to ``log``. Returns wall time,
    the rate the command printed, and its peak resident memory from wait4()."""
    with log.open("w") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} exited {proc.returncode}: {text[-2000:]}")
    rate = _RATE.search(text)
    count = _COUNT.search(text)
    return {
        "command": "manage.py " + " ".join(args),
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "events": int(count.group(1)) if count else None,
        "events_per_s": int(rate.group(1).replace(",", "")) if rate else None,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "output": text.strip().splitlines()[-1] if text.strip() else "",
    }


def run(events: int, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    db = out / "bench-audit.sqlite3"
    for stale in out.glob("bench-audit.sqlite3*"):
        stale.unlink()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DOCPROC_DATA_DIR": str(out / "data")}
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    measure(["migrate", "--no-input"], env, logs / "migrate.log")
    seeded = measure(["bench_audit", "--seed-only", "--events", str(events)], env, logs / "seed.log")
    small = max(1, events // 10)
    results: dict[str, Any] = {
        "events": events, "database": "sqlite", "seed": seeded,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "baseline": measure(["audit_verify", "--to-seq", "1"], env, logs / "baseline.log"),
    }
    results["export_jsonl_small"] = measure(
        ["audit_export", "--format", "jsonl", "--out", str(out / "small.jsonl"), "--to-seq", str(small)], env,
        logs / "export-small.log")
    results["export_jsonl"] = measure(["audit_export", "--format", "jsonl", "--out", str(out / "all.jsonl")], env,
                                      logs / "export-jsonl.log")
    results["export_csv"] = measure(["audit_export", "--format", "csv", "--out", str(out / "all.csv")], env,
                                    logs / "export-csv.log")
    results["verify_db"] = measure(["audit_verify"], env, logs / "verify-db.log")
    results["verify_file"] = measure(["audit_verify", "--file", str(out / "all.jsonl")], env, logs / "verify-file.log")
    results["export_bytes"] = (out / "all.jsonl").stat().st_size
    (out / "bench-audit.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "bench-audit.md").write_text(report(results))
    return results


def report(r: dict[str, Any]) -> str:
    base_cpu = r["baseline"]["cpu_s"]

    def row(name: str, key: str) -> str:
        m = r[key]
        rate = f"{m['events_per_s']:,}" if m["events_per_s"] else "-"
        work_cpu = m["cpu_s"] - base_cpu
        per_cpu = f"{int(m['events'] / work_cpu):,}" if m.get("events") and work_cpu > 0 else "-"
        return f"| {name} | {rate} | {per_cpu} | {m['peak_rss_mib']} | {m['cpu_s']} | {m['wall_s']} |"

    return "\n".join([
        f"# Audit log benchmark: {r['events']:,} events, SQLite",
        "",
        f"Python {r['machine']['python']}, {r['machine']['cpus']} CPUs, {r['machine']['platform']}.",
        "Each command runs as its own process. events/s: the command's own count over its own wall time",
        "(Django start-up excluded), so it drops when other jobs share the CPUs; events per CPU-second:",
        "the count over the process's CPU time less the baseline's (start-up), which load does not change.",
        "Peak RSS is the whole process's, from wait4().",
        "",
        "| step | events/s (wall) | events per CPU-second | peak RSS (MiB) | CPU (s) | wall (s) |",
        "|---|---|---|---|---|---|",
        row("baseline (Django loaded, verify 1 event)", "baseline"),
        row(f"export JSON Lines, first {max(1, r['events'] // 10):,} events", "export_jsonl_small"),
        row(f"export JSON Lines, all {r['events']:,} events", "export_jsonl"),
        row("export CSV, all events", "export_csv"),
        row("verify chain in the database", "verify_db"),
        row("verify the exported JSON Lines file alone", "verify_file"),
        "",
        f"JSON Lines export size: {r['export_bytes'] / 1024 / 1024:.1f} MiB.",
        "",
    ])
