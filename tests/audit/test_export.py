"""Exports: an exported file verifies on its own and fails when one byte changes; CSV too;
manifests; masking; and the export is itself an audited event."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from docproc.audit.chain import EXPORT_FIELDS
from docproc.audit.models import AuditEvent
from docproc.audit.verify import verify_file

pytestmark = pytest.mark.django_db


def export(tmp_path, fmt="jsonl", *args) -> tuple:
    out = tmp_path / f"audit.{fmt}"
    call_command("audit_export", "--format", fmt, "--out", str(out), *args)
    return out, json.loads((tmp_path / f"audit.{fmt}.manifest.json").read_text())


def flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] = ord("x") if data[offset] != ord("x") else ord("y")
    path.write_bytes(bytes(data))


def test_jsonl_export_verifies_alone(make_events, tmp_path):
    make_events(5)
    make_events(3, action="field.edited")
    out, meta = export(tmp_path)
    head = AuditEvent.objects.order_by("-seq").first()
    assert head.action == "audit.exported" and head.payload["sha256"] == meta["sha256"]
    assert meta["count"] == head.seq - 1 and meta["last_seq"] == head.seq - 1 and meta["contiguous"]
    lines = out.read_bytes().splitlines()
    assert len(lines) == meta["count"]
    assert set(json.loads(lines[0])) == set(EXPORT_FIELDS)
    report, used = verify_file(out)
    assert report.ok and used is not None, report.problems
    report, used = verify_file(out, use_manifest=False)
    assert report.ok and used is None
    call_command("audit_verify", "--file", str(out))


@pytest.mark.parametrize("where", ["payload", "actor", "hash", "seq", "newline", "last byte"])
def test_one_changed_byte_fails(make_events, tmp_path, where):
    make_events(6)
    out, _ = export(tmp_path)
    text = out.read_bytes()
    second = text.index(b"\n") + 1
    offsets = {
        "payload": text.index(b"processing", second),
        "actor": text.index(b'"actor":"', second) + 9,
        "hash": text.index(b'"hash":"', second) + 8,
        "seq": text.index(b'"seq":', second) + 6,
        "newline": second - 1,
        "last byte": len(text) - 2,
    }
    flip(out, offsets[where])
    for use_manifest in (True, False):  # the manifest catches it, and so do the lines alone
        report, _ = verify_file(out, use_manifest=use_manifest)
        assert not report.ok, (where, use_manifest)
    with pytest.raises(CommandError, match="FAILED"):
        call_command("audit_verify", "--file", str(out), "--no-manifest")


def test_removed_line_fails(make_events, tmp_path):
    make_events(6)
    out, _ = export(tmp_path)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:3] + lines[4:]))
    report, _ = verify_file(out, use_manifest=False)
    assert not report.ok and report.first_bad_seq == 4, report.problems
    assert not verify_file(out)[0].ok


def test_csv_export_verifies_and_escapes_formulas(make_events, tmp_path, user_in):
    from docproc.audit.service import Actor, record

    make_events(3)
    record(actor=Actor("user", "=HYPERLINK(1)"), action="settings.changed", payload={"k": "-1"})
    out, meta = export(tmp_path, "csv")
    text = out.read_text()
    assert "'=HYPERLINK(1)" in text
    report, _ = verify_file(out)
    assert report.ok and report.checked == meta["count"], report.problems
    flip(out, text.index("=HYPERLINK") + 2)
    assert not verify_file(out, use_manifest=False)[0].ok


def test_masked_export(make_events, tmp_path, settings):
    make_events(2, action="field.edited")
    out, meta = export(tmp_path, "jsonl", "--mask")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    edited = [e for e in lines if e["action"] == "field.edited"]
    assert edited and all(e["payload_masked"] and e["payload"]["before"] == "[masked]" for e in edited)
    assert all(e["payload"]["reason"] == "typo" for e in edited)  # only values are masked
    assert "old 0" not in out.read_text()
    assert meta["masked"] and meta["masked_events"] == len(edited)
    assert verify_file(out)[0].ok
    settings.DOCPROC_AUDIT_MASK_VALUES = True
    out, meta = export(tmp_path, "jsonl")  # no --mask: the setting masks anyway
    assert meta["masked"] and "old 0" not in out.read_text()


def test_filtered_export(make_events, tmp_path):
    mine = make_events(3, action="field.edited")
    make_events(4)
    out, meta = export(tmp_path, "jsonl", "--actor", "rita", "--action", "field.edited")
    seqs = [json.loads(line)["seq"] for line in out.read_text().splitlines()]
    assert seqs == [e.seq for e in mine] and not meta["contiguous"]
    assert meta["filters"]["actor"] == "rita"
    assert verify_file(out)[0].ok  # the manifest says it is filtered
    assert verify_file(out, use_manifest=False, allow_gaps=True)[0].ok
    out, meta = export(tmp_path, "jsonl", "--document", str(mine[0].document_id))
    assert meta["count"] == 3
    with pytest.raises(CommandError, match="unknown action"):
        export(tmp_path, "jsonl", "--action", "nope.nope")
    with pytest.raises(CommandError, match="not a date"):
        export(tmp_path, "jsonl", "--since", "yesterday")


@pytest.mark.parametrize("text", ["plain", 'quo"te \\ back', "Ünïcode ✓ \u2028 \x00 \x1f \t\n", ""])
def test_fast_encoders_match_canonical(text):
    """export_line and body_text write out the canonical form by hand; they must agree with it."""
    from docproc.audit.chain import body_text, canonical, event_body, export_line

    e = {"seq": 42, "at": "2026-11-28T10:00:00.123456+00:00", "actor_type": "user", "actor": text,
         "action": "field.edited", "object_type": text, "object_id": "7", "document_id": None,
         "payload_digest": "d" * 64, "request_id": text, "client_ip": None, "prev_hash": "p" * 64,
         "hash": "h" * 64, "payload": {"z": [1, 2.5, None, True, text], "a": {"b": text}}, "payload_masked": False}
    assert export_line(e) == canonical(e)
    assert body_text(e) == canonical(event_body(e))
    e.update(client_ip="10.0.0.1", document_id="00000000-0000-0000-0000-000000000001", payload_masked=True)
    assert export_line(e) == canonical(e)
    assert body_text(e) == canonical(event_body(e))


def test_standalone_verifier_needs_only_the_standard_library(make_events, tmp_path):
    """chain.py run as a script, without site-packages, checks an export on its own."""
    import subprocess
    import sys
    from pathlib import Path

    import docproc.audit.chain as chain_module

    make_events(5)
    out, _ = export(tmp_path)
    script = Path(chain_module.__file__)
    ok = subprocess.run([sys.executable, "-S", str(script), str(out)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout.startswith("OK:"), ok.stderr
    flip(out, out.read_bytes().index(b"processing"))
    bad = subprocess.run([sys.executable, "-S", str(script), str(out)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "first bad sequence number" in bad.stderr
