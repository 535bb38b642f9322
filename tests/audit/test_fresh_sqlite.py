"""The commands on a fresh SQLite instance, as an operator runs them: migrate, then
audit_export and audit_verify as separate processes (DATABASE_URL=sqlite:///...)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manage(tmp_path):
    db = tmp_path / "fresh.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DOCPROC_DATA_DIR": str(tmp_path / "data"),
           "DOCPROC_MEDIA_ROOT": str(tmp_path / "media"), "DJANGO_SUPERUSER_PASSWORD": "pw-Secret-123"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)
        if ok:
            assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc

    run.db = db  # type: ignore[attr-defined]
    return run


def test_demo_export_and_verify_on_fresh_sqlite(manage, tmp_path):
    """Given a fresh SQLite database, when migrate, demo and the audit commands run as an
    operator runs them, then the chain verifies, the export verifies alone, and a tampered
    file or row is reported."""
    manage("migrate", "--no-input")
    manage("demo", "--documents", "2", "--password", "demo-Secret-123")
    manage("createsuperuser", "--no-input", "--username", "root", "--email", "root@example.com")
    assert "OK: the database" in manage("audit_verify").stdout
    out = tmp_path / "audit.jsonl"
    manage("audit_export", "--format", "jsonl", "--out", str(out))
    manage("audit_export", "--format", "csv", "--out", str(tmp_path / "audit.csv"))
    meta = json.loads((tmp_path / "audit.jsonl.manifest.json").read_text())
    actions = {json.loads(line)["action"] for line in out.read_text().splitlines()}
    assert meta["count"] == len(out.read_text().splitlines())
    assert {"user.created", "role.changed", "document.uploaded", "pipeline.stage_started",
            "pipeline.stage_finished", "document.status_changed"} <= actions, actions
    assert "with its manifest" in manage("audit_verify", "--file", str(out)).stdout
    manage("audit_verify", "--file", str(tmp_path / "audit.csv"))
    verified = manage("audit_verify")
    assert "OK" in verified.stdout  # the two exports are events in the chain too

    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    out.write_bytes(bytes(data))
    bad = manage("audit_verify", "--file", str(out), ok=False)
    assert bad.returncode == 1 and "FAILED" in bad.stderr

    with sqlite3.connect(manage.db) as conn:
        conn.execute("UPDATE audit_auditevent SET actor = 'mallory' WHERE seq = 2")
    bad = manage("audit_verify", ok=False)
    assert bad.returncode == 1 and "first bad sequence number: 2" in bad.stderr
