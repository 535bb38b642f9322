"""Peak resident memory of one process running the pipeline over many documents: what a
long-lived worker would do. The figures after the 10th and the last document say whether memory
grows per document (it should stay flat; Celery's per-child limits are only the safety net)."""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from docproc.doctypes import get_doctype
from docproc.pipeline.runner import process_file


@dataclass(frozen=True, slots=True)
class MemoryReport:
    documents: int
    extractor: str
    scans: bool
    peak_mib_after: dict[int, float]
    growth_after_10: float  # (peak after the last - peak after 10) / peak after 10
    seconds: float


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generate_documents(folder: Path, count: int, *, scans: bool) -> list[Path]:
    from fixtures.claims import LAYOUTS, make_claim, write_claim_pdf, write_scan

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        pdf = folder / f"claim-{i:04d}.pdf"
        if not pdf.exists():
            write_claim_pdf(make_claim(5000 + i), pdf, layout=LAYOUTS[i % len(LAYOUTS)])
        if scans:
            scan = folder / f"claim-{i:04d}.png"
            if not scan.exists():
                write_scan(pdf, scan, dpi=150)
            files.append(scan)
        else:
            files.append(pdf)
    return files


def bench_memory(files: list[Path], *, ocr, extractor, limits, checkpoints=(10,)) -> MemoryReport:
    doctype = get_doctype("claim")
    marks = sorted({*checkpoints, len(files)})
    peaks: dict[int, float] = {}
    started = time.perf_counter()
    for i, path in enumerate(files, 1):
        process_file(path, doctype, ocr=ocr, extractor=extractor, limits=limits)
        if i in marks:
            peaks[i] = round(peak_rss_mib(), 1)
    first = peaks.get(10) or next(iter(peaks.values()))
    return MemoryReport(
        documents=len(files), extractor=extractor.name, scans=files[0].suffix != ".pdf" if files else False,
        peak_mib_after=peaks, growth_after_10=round((peaks[len(files)] - first) / first, 4),
        seconds=round(time.perf_counter() - started, 1),
    )


def write_report(report: MemoryReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(json.dumps(asdict(report), indent=2))
    lines = ["# Peak RSS over documents in one process", "",
             f"{report.documents} generated claims ({'scans, OCR' if report.scans else 'digital, text layer'}), "
             f"extractor `{report.extractor}`, {report.seconds} s.", "", "| after documents | peak RSS (MiB) |", "|---|---|"]
    lines += [f"| {n} | {mib} |" for n, mib in report.peak_mib_after.items()]
    lines += ["", f"Growth from the 10th to the last document: {report.growth_after_10:.1%}."]
    (out / "memory.md").write_text("\n".join(lines) + "\n")
