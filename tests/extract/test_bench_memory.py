"""``manage.py bench_memory`` runs documents through the pipeline in one process and reports peak
RSS at its checkpoints (the figures themselves are the bench's report, not asserted here)."""

from __future__ import annotations

import json

from django.core.management import call_command


def test_bench_memory_reports_peak_rss_per_checkpoint(tmp_path, settings):
    settings.DOCPROC_EXTRACT_ENGINE = "rules"
    call_command("bench_memory", "--out", str(tmp_path / "out"), "--documents", "3", "--engine", "rules")
    report = json.loads((tmp_path / "out" / "memory.json").read_text())
    assert report["documents"] == 3 and report["extractor"] == "rules" and not report["scans"]
    assert set(report["peak_mib_after"]) == {"3"} and report["peak_mib_after"]["3"] > 0
    assert "Peak RSS" in (tmp_path / "out" / "memory.md").read_text()
