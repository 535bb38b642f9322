"""The device benchmark behind ``scripts/gpu-check`` (``manage.py bench_device``): OCR and
extraction of the same receipts on each device asked for (``cuda``, ``cpu``) in one run, with
pages per second of OCR, seconds per document of extraction and end to end, field accuracy and
the auto-accepted wrong values, so the GPU path is measured against the CPU path on one machine.

A device that is not there is reported as such ("no CUDA device found") and skipped; the others
still run. Engines are built here for each device (not the process's cached engines), from the
same settings the workers use (``docproc.engines.engine_options``) with the device replaced.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from docproc import engines
from docproc.bench.compare import reads_day_first, values_match
from docproc.doctypes import get_doctype
from docproc.pipeline import registry
from docproc.pipeline.runner import extract_document, read_document
from docproc.pipeline.types import PipelineError


def cuda_devices() -> tuple[list[str], dict[str, bool]]:
    """(the NVIDIA GPUs nvidia-smi lists, which runtimes can use CUDA in this environment)."""
    names: list[str] = []
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=20, check=False).stdout
            names = [line.strip() for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.TimeoutExpired):
            names = []
    runtimes = {"onnxruntime": False, "torch": False}
    try:
        import onnxruntime

        runtimes["onnxruntime"] = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        pass
    try:
        import torch

        runtimes["torch"] = bool(torch.cuda.is_available())
    except ImportError:
        pass
    return names, runtimes


def _extractor_for(name: str, device: str):
    opts = engines.engine_options("extract", name)
    if "options" in opts:
        o = opts["options"]
        changes: dict[str, Any] = {}
        if hasattr(o, "gpu_layers"):
            changes["gpu_layers"] = (settings.DOCPROC_LLM_GPU_LAYERS or 99) if device == "cuda" else 0
        if hasattr(o, "device"):
            changes["device"] = device
        opts = {**opts, "options": dataclasses.replace(o, **changes)}
    return registry.build_engine("extract", name, opts)


def _ocr_for(name: str, device: str):
    return registry.build_engine("ocr", name, {**engines.engine_options("ocr", name), "device": device})


def _device_run(device: str, entries: list[dict[str, Any]], dataset: Path, *, extractor_name: str,
                log: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    ocr = _ocr_for(settings.DOCPROC_OCR_ENGINE, device)
    extractor = _extractor_for(extractor_name, device)
    load_s = time.perf_counter() - started
    limits = engines.limits()
    pages = 0
    ocr_s = extract_s = 0.0
    correct = total = auto_wrong = 0
    failures: list[dict[str, str]] = []
    for entry in entries:
        doctype = get_doctype(entry.get("doc_type") or "receipt")
        path = dataset / entry["file"]
        try:
            t = time.perf_counter()
            read = read_document(path, ocr=lambda: ocr, limits=limits)
            ocr_s += time.perf_counter() - t
            pages += len(read.pages)
            t = time.perf_counter()
            result = extract_document(path, doctype, read, extractor=extractor)
            extract_s += time.perf_counter() - t
        except PipelineError as exc:
            failures.append({"id": entry["id"], "code": exc.code})
            continue
        for f in result.fields:
            if f.name not in entry["fields"]:
                continue
            day_first = reads_day_first(doctype, result.engines.get("extract", {}).get("date_order", ""))
            ok = values_match(doctype.field(f.name), f.value, entry["fields"][f.name], day_first=day_first)
            total += 1
            correct += ok
            auto_wrong += f.status == "auto_accepted" and not ok
        log(f"  {device}: {entry['id']} done")
    done = len(entries) - len(failures)
    return {
        "device": device, "ocr_engine": f"{ocr.name} {ocr.version}", "ocr_on": getattr(ocr, "device", device),
        "extractor": f"{extractor.name} {getattr(extractor, 'version', '')}".strip(),
        "documents": done, "pages": pages, "load_seconds": round(load_s, 3),
        "ocr_pages_per_second": round(pages / ocr_s, 3) if ocr_s else None,
        "ocr_seconds_per_page": round(ocr_s / pages, 3) if pages else None,
        "extract_seconds_per_document": round(extract_s / done, 3) if done else None,
        "seconds_per_document": round((ocr_s + extract_s) / done, 3) if done else None,
        "fields": total, "fields_correct": correct, "auto_accepted_wrong": auto_wrong, "failures": failures,
    }


def run_device_bench(dataset: Path, *, limit: int, devices: tuple[str, ...], extractor: str, out: Path | None,
                     log: Callable[[str], None]) -> dict[str, Any]:
    """Run every device in ``devices`` over the first ``limit`` documents of ``dataset`` (sorted
    by id); write ``device-report.json`` and ``.md`` to ``out`` when given; return the report."""
    manifest = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    entries = sorted(manifest, key=lambda m: m["id"])[:limit]
    gpus, runtimes = cuda_devices()
    report: dict[str, Any] = {"dataset": dataset.name, "documents": len(entries), "gpus": gpus,
                              "cuda_runtimes": runtimes, "runs": [], "skipped": {}}
    for device in devices:
        if device == "cuda" and not gpus:
            report["skipped"]["cuda"] = "no CUDA device found (nvidia-smi lists no GPU)"
            log("no CUDA device found: the GPU half is skipped, the CPU half runs")
            continue
        if device == "cuda" and not any(runtimes.values()):
            report["skipped"]["cuda"] = (f"GPU {gpus[0]} found, but neither onnxruntime nor torch can use CUDA here "
                                         "(install onnxruntime-gpu, a CUDA build of xllamacpp, or torch with CUDA)")
            log(report["skipped"]["cuda"])
            continue
        log(f"{device}: {len(entries)} documents ...")
        report["runs"].append(_device_run(device, entries, dataset, extractor_name=extractor, log=log))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "device-report.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "device-report.md").write_text(markdown(report))
    return report


def markdown(r: dict[str, Any]) -> str:
    lines = ["# Device bench", "",
             f"{r['documents']} documents of {r['dataset']}; GPUs: {', '.join(r['gpus']) or 'none'}; "
             f"CUDA in onnxruntime: {r['cuda_runtimes']['onnxruntime']}, in torch: {r['cuda_runtimes']['torch']}.", ""]
    for device, why in r["skipped"].items():
        lines.append(f"- {device}: skipped: {why}")
    lines += ["", "| device | OCR | extractor | pages/s (OCR) | s/document (extract) | s/document (end to end) | "
                  "fields correct | auto-accepted wrong |", "|---|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        lines.append(f"| {run['device']} | {run['ocr_engine']} on {run['ocr_on']} | {run['extractor']} | "
                     f"{run['ocr_pages_per_second']} | {run['extract_seconds_per_document']} | "
                     f"{run['seconds_per_document']} | {run['fields_correct']}/{run['fields']} | "
                     f"{run['auto_accepted_wrong']} |")
    return "\n".join(lines) + "\n"
