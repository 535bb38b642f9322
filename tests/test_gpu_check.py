"""``scripts/gpu-check``: its CPU half runs here on one shared receipt (the GPU half runs where a
GPU is, and says so where none is)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _receipts(datasets: Path) -> Path:
    folder = datasets / "receipts-sroie"
    if not (folder / "manifest.jsonl").is_file():
        pytest.skip("receipts-sroie is not in the shared datasets")
    return folder


def test_the_cpu_half_reads_and_extracts_a_receipt(datasets, tmp_path):
    """Given one receipt, when ``scripts/gpu-check --cpu-only`` runs with the rules extractor, then
    it installs nothing, OCRs the receipt's page on the CPU and extracts its fields, and reports
    pages per second, seconds per document and the auto-accepted wrong values."""
    folder = _receipts(datasets)
    env = {**os.environ, "PYTHON": sys.executable, "DOCPROC_DEVICE": "cpu"}
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check"), "--cpu-only", "--limit", "1", "--extractor", "rules",
                           "--dataset", str(folder), "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pip" not in done.stdout + done.stderr  # --cpu-only installs nothing
    report = json.loads((tmp_path / "device-report.json").read_text())
    [run] = report["runs"]
    assert run["device"] == "cpu" and run["ocr_on"] == "cpu" and run["documents"] == 1 and not run["failures"]
    assert run["pages"] == 1 and run["ocr_pages_per_second"] > 0 and run["seconds_per_document"] > 0
    assert run["fields"] > 0 and 0 <= run["auto_accepted_wrong"] <= run["fields"] - run["fields_correct"]
    assert "| cpu | rapidocr" in done.stdout and "pages/s" in done.stdout


def test_without_a_gpu_the_cuda_half_says_no_cuda_device_was_found(datasets):
    from docproc.bench.gpu import cuda_devices, run_device_bench

    folder = _receipts(datasets)
    if cuda_devices()[0]:
        pytest.skip("this machine has a GPU: the cuda half runs")
    said = []
    report = run_device_bench(folder, limit=1, devices=("cuda",), extractor="rules", out=None, log=said.append)
    assert report["runs"] == [] and "no CUDA device found" in report["skipped"]["cuda"]
    assert any("no CUDA device found" in line for line in said)
