"""OCR benchmark: accuracy against ground-truth lines, speed, memory, pipeline overhead, and
field accuracy on generated claims, digital against scanned.

Each engine runs in its own worker process (spawned, one at a time) so that peak memory is
that engine's and nothing else's. Within a worker, every image is read twice, alternating
which goes first: by the runner's ``read_page`` (render, preprocess, OCR, reading order) and by
a bare ``engine.read`` on the same decoded image, so the overhead ratio compares like with like.
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import statistics
import tempfile
import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from docproc.pipeline import registry
from docproc.pipeline.ingest import ingest_file
from docproc.pipeline.memory import edit_distance
from docproc.pipeline.render import load_image_page
from docproc.pipeline.runner import Limits, Timings, read_page
from docproc.pipeline.types import PageImage, PageWords

# --- ground truth and metrics -----------------------------------------------------------------

def read_sroie_lines(path: Path) -> list[tuple[tuple[float, float, float, float], str]]:
    """``lines/ID.csv``: eight corner coordinates (pixels) then the text, which may hold commas."""
    lines = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = raw.split(",", 8)
        if len(parts) < 9:
            continue
        try:
            xs = [float(v) for v in parts[0:8:2]]
            ys = [float(v) for v in parts[1:8:2]]
        except ValueError:
            continue
        text = parts[8].strip()
        if text:
            lines.append(((min(xs), min(ys), max(xs), max(ys)), text))
    return lines


def normalise(text: str) -> str:
    """NFKC, single spaces, upper case: SROIE's ground truth is upper-cased, so case is not scored."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).upper()


def _to_upright(box: tuple[float, float, float, float], rotation: int) -> tuple[float, float, float, float]:
    """A box (fractions of the file's image) in the frame of the page turned by ``rotation`` (CCW)."""
    x0, y0, x1, y1 = box
    if rotation == 90:
        return (y0, 1 - x1, y1, 1 - x0)
    if rotation == 180:
        return (1 - x1, 1 - y1, 1 - x0, 1 - y0)
    if rotation == 270:
        return (1 - y1, x0, 1 - y0, x1)
    return box


def score_lines(truth: list[tuple[tuple[float, float, float, float], str]], page: PageWords,
                size: tuple[int, int], rotation: int = 0) -> dict[str, float]:
    """Character errors and exact lines: each word goes to the truth line holding its centre."""
    width, height = size
    boxes = [_to_upright((b[0] / width, b[1] / height, b[2] / width, b[3] / height), rotation) for b, _ in truth]
    assigned: list[list[tuple[float, str]]] = [[] for _ in truth]
    for word in page.words:
        cx, cy = (word.bbox[0] + word.bbox[2]) / 2, (word.bbox[1] + word.bbox[3]) / 2
        best, best_area = None, None
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            if x0 <= cx <= x1 and y0 <= cy <= y1:
                area = (x1 - x0) * (y1 - y0)
                if best_area is None or area < best_area:
                    best, best_area = i, area
        if best is not None:
            assigned[best].append((word.bbox[0], word.text))
    errors = chars = exact = 0
    for (_, text), words in zip(truth, assigned, strict=True):
        want = normalise(text)
        got = normalise(" ".join(t for _, t in sorted(words)))
        # spaces are not characters a reader misses: compare without them
        errors += edit_distance(want.replace(" ", ""), got.replace(" ", ""))
        chars += len(want.replace(" ", ""))
        exact += want.replace(" ", "") == got.replace(" ", "")
    return {"errors": errors, "chars": chars, "lines": len(truth), "lines_exact": exact}


# --- one engine, in its own process -----------------------------------------------------------

def _engine_worker(name: str, options: dict[str, Any], sroie_dir: str | None, ids: list[str],
                   claims_dir: str | None, ocr_dpi: int, queue: Any) -> None:
    try:
        queue.put(_run_engine(name, options, Path(sroie_dir) if sroie_dir else None, ids,
                              Path(claims_dir) if claims_dir else None, ocr_dpi))
    except Exception as exc:  # reported, not raised: the other engines still run
        queue.put({"engine": name, "error": f"{type(exc).__name__}: {exc}"})


def _run_engine(name: str, options: dict[str, Any], sroie: Path | None, ids: list[str],
                claims: Path | None, ocr_dpi: int) -> dict[str, Any]:
    start = time.perf_counter()
    engine = registry.build_engine("ocr", name, options)
    out: dict[str, Any] = {"engine": name, "version": engine.version, "load_seconds": round(time.perf_counter() - start, 3)}
    limits = Limits(ocr_dpi=ocr_dpi)
    if sroie is not None:
        per_image, totals = [], {"errors": 0, "chars": 0, "lines": 0, "lines_exact": 0}
        pipeline_s, bare_s, stage_s, prepared_s, preprocess_s = [], [], [], [], []
        for index, image_id in enumerate(ids):
            path = next(p for p in (sroie / "images").glob(f"{image_id}.*"))
            truth = read_sroie_lines(sroie / "lines" / f"{image_id}.csv")
            ingested = ingest_file(path, max_pages=1, max_image_pixels=limits.max_image_pixels)
            page = load_image_page(path, 1, max_image_pixels=limits.max_image_pixels)
            seen: list[PageImage] = []

            timings = Timings()

            def pipeline(path: Path = path, ingested: Any = ingested, seen: list[PageImage] = seen,
                         timings: Timings = timings) -> PageWords:
                seen.clear()
                return read_page(path, ingested, 1, ocr=lambda: engine, limits=limits, timings=timings,
                                 on_image=seen.append)

            def bare(page: PageImage = page) -> PageWords:
                return engine.read(page)

            order = (pipeline, bare) if index % 2 == 0 else (bare, pipeline)
            results: dict[str, Any] = {}
            for fn in order:
                t0 = time.perf_counter()
                results[fn.__name__] = fn()
                (pipeline_s if fn is pipeline else bare_s).append(time.perf_counter() - t0)
            rotation = seen[0].rotation if seen else 0
            # the engine alone on the very image the OCR stage was given
            t0 = time.perf_counter()
            engine.read(seen[0])
            prepared_s.append(time.perf_counter() - t0)
            stage_s.append(timings.seconds.get("ocr", 0.0))
            preprocess_s.append(timings.seconds.get("render", 0.0) + timings.seconds.get("preprocess", 0.0))
            scored = score_lines(truth, results["pipeline"], (page.width, page.height), rotation)
            bare_scored = score_lines(truth, results["bare"], (page.width, page.height))
            for key in totals:
                totals[key] += scored[key]
            per_image.append({"id": image_id, "cer": round(scored["errors"] / max(scored["chars"], 1), 4),
                              "line_recall": round(scored["lines_exact"] / max(scored["lines"], 1), 4),
                              "bare_cer": round(bare_scored["errors"] / max(bare_scored["chars"], 1), 4),
                              "rotation": rotation, "pipeline_s": round(pipeline_s[-1], 3), "bare_s": round(bare_s[-1], 3)})
        out["sroie"] = {
            "images": len(ids),
            "cer": round(totals["errors"] / max(totals["chars"], 1), 4),
            "line_recall": round(totals["lines_exact"] / max(totals["lines"], 1), 4),
            "seconds_per_page": round(statistics.mean(pipeline_s), 3) if pipeline_s else None,
            "bare_seconds_per_page": round(statistics.mean(bare_s), 3) if bare_s else None,
            "overhead_ratio": round(sum(pipeline_s) / sum(bare_s), 3) if bare_s else None,
            # the runner's OCR stage against the engine alone on the same prepared image
            "ocr_stage_vs_bare": round(sum(stage_s) / sum(prepared_s), 3) if prepared_s else None,
            "bare_prepared_seconds_per_page": round(statistics.mean(prepared_s), 3) if prepared_s else None,
            "render_preprocess_seconds_per_page": round(statistics.mean(preprocess_s), 3) if preprocess_s else None,
            "per_image": per_image,
        }
    if claims is not None:
        out["claims"] = _claims_fields(claims, engine, limits)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _claims_fields(claims: Path, engine: Any, limits: Limits) -> dict[str, Any]:
    """Field accuracy of the rules extractor, per variant (digital / scan), through ``run_bench``."""
    from docproc.pipeline.extract.rules import RulesExtractor

    from .harness import run_bench

    entries = [json.loads(line) for line in (claims / "manifest.jsonl").read_text().splitlines() if line.strip()]
    result = {}
    for variant in ("digital", "scan"):
        chosen = [e for e in entries if e["variant"].startswith(variant)]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for entry in chosen:
                entry = {**entry, "file": str((claims / entry["file"]).resolve())}
                with (folder / "manifest.jsonl").open("a") as fh:
                    fh.write(json.dumps(entry) + "\n")
            report = run_bench(folder, extractor=RulesExtractor(), ocr=lambda: engine, limits=limits)
        summary = report.summary()
        result[variant] = {"documents": summary["documents"], "failed": len(summary["failed"]),
                           "accuracy": summary["overall"]["accuracy"], "automation": summary["overall"]["automation"],
                           "auto_precision": summary["overall"]["auto_precision"],
                           "fields": {k: v["accuracy"] for k, v in summary["fields"].items()}}
    return result


# --- the whole benchmark ----------------------------------------------------------------------

def run_ocr_bench(dataset: Path, *, engines: list[str], options: dict[str, dict[str, Any]], limit: int | None,
                  claims: int, ocr_dpi: int, progress=None) -> dict[str, Any]:
    ids = sorted(p.stem for p in (dataset / "lines").glob("*.csv") if any((dataset / "images").glob(f"{p.stem}.*")))
    if limit:
        ids = ids[:limit]
    report: dict[str, Any] = {"dataset": dataset.name, "images": len(ids), "ocr_dpi": ocr_dpi, "engines": {}}
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        claims_dir = None
        if claims:
            from fixtures.claims import generate_dataset

            claims_dir = Path(tmp) / "claims"
            generate_dataset(claims_dir, count=claims, scans=True)
            report["claims"] = {"count": claims, "scans": "200 and 300 DPI, rotated 0/90/180/270, skew up to 2 degrees, noise 0.04"}
        for name in engines:
            if progress:
                progress(name)
            queue = context.Queue()
            proc = context.Process(target=_engine_worker, args=(name, options.get(name, {}), str(dataset), ids,
                                                                 str(claims_dir) if claims_dir else None, ocr_dpi, queue))
            proc.start()
            result = queue.get()
            proc.join()
            report["engines"][name] = result
    return report


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# OCR benchmark: {report['dataset']} ({report['images']} images)", ""]
    lines += ["| engine | version | CER | line recall | s/page (read_page) | s/page (bare, raw image) | read_page / bare raw "
              "| render+preprocess s/page | OCR stage / bare on same prepared image | peak RSS MiB |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["engines"].items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | | | | |")
            continue
        s = r.get("sroie", {})
        lines.append(f"| {name} | `{r['version']}` | {s.get('cer')} | {s.get('line_recall')} | {s.get('seconds_per_page')} | "
                     f"{s.get('bare_seconds_per_page')} | {s.get('overhead_ratio')}x | {s.get('render_preprocess_seconds_per_page')} | "
                     f"{s.get('ocr_stage_vs_bare')}x | {r.get('peak_rss_mib')} |")
    if "claims" in report:
        lines += ["", f"## Generated claims ({report['claims']['count']} claims; scans: {report['claims']['scans']})", "",
                  "Field accuracy of the rules extractor, digital PDF against its scan.", "",
                  "| engine | digital accuracy | scanned accuracy | scanned automation | scanned auto-accepted precision |",
                  "|---|---|---|---|---|"]
        for name, r in report["engines"].items():
            c = r.get("claims")
            if c:
                lines.append(f"| {name} | {c['digital']['accuracy']} | {c['scan']['accuracy']} | {c['scan']['automation']} | "
                             f"{c['scan']['auto_precision']} |")
        for name, r in report["engines"].items():
            c = r.get("claims")
            if c:
                lines += ["", f"Per field, scanned, {name}: " + ", ".join(f"{k} {v}" for k, v in c["scan"]["fields"].items())]
    lines += ["", "CER: character edit distance over ground-truth characters (spaces ignored), each OCR word",
              "assigned to the ground-truth line whose box holds its centre. Line recall: ground-truth lines read",
              "exactly, case-insensitive (SROIE's truth is upper-cased). read_page: the runner's whole OCR route",
              "(render, orientation, deskew, resize, OCR, reading order); bare, raw image: engine.read on the",
              "decoded file, same process, alternating which runs first; OCR stage / bare: the runner's timed OCR",
              "stage against engine.read on the identical prepared image (the runner's own cost around the engine).",
              "Peak RSS: the engine's worker process at its end (one process per engine, one thread)."]
    return "\n".join(lines) + "\n"


def write_ocr_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "ocr-bench.json", out / "ocr-bench.md"
    json_path.write_text(json.dumps(report, indent=2))
    md_path.write_text(markdown(report))
    return json_path, md_path


# --- coverage ceiling: does the text hold the truth? ------------------------------------------

COVERAGE_TEXTS = ("raw", "assembled", "lines")


def squeeze(text: str) -> str:
    """Whitespace and case aside: the comparison the extraction bench makes of values."""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def alnum(text: str) -> str:
    """Letters and digits only: punctuation slips (``,`` for ``.``, a lost colon) aside."""
    return "".join(ch for ch in squeeze(text) if ch.isalnum())


def holds(text: str, value: str) -> tuple[bool, bool]:
    """Whether ``text`` holds ``value`` whitespace and case aside, and letters and digits only."""
    return squeeze(value) in squeeze(text), alnum(value) in alnum(text)


def _jsonable(out: Any) -> dict[str, Any]:
    """rapidocr's output as plain lists (the on-disk cache of one page's reading)."""
    def listed(value: Any) -> Any:
        if hasattr(value, "tolist"):
            return value.tolist()
        if isinstance(value, list | tuple):
            return [listed(v) for v in value]
        return value

    return {"txts": [str(t) for t in (out.txts or ())], "boxes": listed(out.boxes) if out.boxes is not None else [],
            "scores": [float(s) for s in (out.scores or ())], "word_results": listed(out.word_results or ())}


def _page_for(size: tuple[int, int], page: int = 1) -> PageImage:
    """A page of the prepared image's size: all that building words from a cached reading needs."""
    from types import SimpleNamespace

    return PageImage(page=page, image=SimpleNamespace(width=size[0], height=size[1]), dpi=0.0)


def assembled_texts(engine: Any, page: PageImage, out: Any) -> dict[str, str]:
    """The three texts the coverage is measured in: ``raw`` (the engine's lines in its own order),
    ``assembled`` (the page's words after the product's line building and reading order, as
    stored and as the rules read them) and ``lines`` (the lines rebuilt from geometry that the
    model reads, ``visual_lines.reline``)."""
    from docproc.pipeline.extract.prompts import numbered_text
    from docproc.pipeline.reading_order import order_words, renumber
    from docproc.pipeline.types import DocumentText
    from docproc.pipeline.visual_lines import reline

    words = engine.page_words(page, out)
    ordered = PageWords(page=words.page, width=words.width, height=words.height,
                        words=renumber(words.page, order_words(words.words)), source=words.source,
                        engine=words.engine, engine_version=words.engine_version)
    numbered, _ = numbered_text(reline(DocumentText((ordered,))).pages)
    lines = "\n".join(line.split("|", 1)[1] if "|" in line else line for line in numbered.splitlines())
    return {"raw": "\n".join(out.txts or ()), "assembled": ordered.text, "lines": lines}


def run_coverage_bench(dataset: Path, *, options: dict[str, Any], limit: int | None, ocr_dpi: int,
                       cache_dir: Path | None = None, progress=None, by_type: bool = False,
                       fixed: Iterable[str] = ()) -> dict[str, Any]:
    """Per field, the share of ground-truth values found in rapidocr's raw text and in the
    product's assembled texts (see ``assembled_texts``), on a ``manifest.jsonl`` data set.

    With ``by_type`` each document is read as the pipeline reads its document type (the type's
    ``charset`` and ``ocr`` settings over ``options``), except for the options named in ``fixed``.

    Each page is prepared as the runner prepares it (upright, deskewed, sized for the engine);
    rapidocr's output is cached on disk under ``cache_dir/<engine version>/`` so a re-run (another
    line assembly on the same reading) costs no OCR."""
    from types import SimpleNamespace

    from docproc.doctypes import get_doctype
    from docproc.pipeline.preprocess import prepare_page
    from docproc.pipeline.render import page_image
    from docproc.pipeline.runner import ocr_for_reading

    configured = registry.build_engine("ocr", "rapidocr", options)
    engine = configured
    fixed = set(fixed)
    readings: set[str] = set()
    entries = [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines() if line.strip()]
    entries = [e for e in entries if e.get("fields")]
    if limit:
        entries = entries[:limit]
    limits = Limits(ocr_dpi=ocr_dpi)
    fields: dict[str, dict[str, int]] = {}
    per_document: list[dict[str, Any]] = []
    ocr_cpu: list[float] = []
    sides: list[int] = []
    for entry in entries:
        if progress:
            progress(entry["id"])
        path = dataset / entry["file"]
        if by_type:
            doctype = get_doctype(entry["doc_type"])
            detector = {k: v for k, v in doctype.ocr.given().items()
                        if (k if k == "max_side_len" else f"det_{k}") not in fixed}
            engine = ocr_for_reading(configured, "all" if "charset" in fixed else doctype.charset, detector)
        readings.add(json.dumps({"charset": engine.charset, **engine.det, "max_side_len": engine.max_side_len},
                                sort_keys=True))
        cached = cache_dir / engine.version / f"{entry['id']}.json" if cache_dir is not None else None
        reading = json.loads(cached.read_text()) if cached is not None and cached.is_file() else None
        if reading is None:
            ingested = ingest_file(path, max_pages=1, max_image_pixels=limits.max_image_pixels)
            start = time.process_time()
            image = page_image(path, ingested.content_type, 1, dpi=limits.ocr_dpi, max_image_pixels=limits.max_image_pixels)
            caps = engine.capabilities
            image = prepare_page(image, target_char_height=caps.target_char_height, scorer=caps.upright_score,
                                 orienter=caps.orientation)
            out = engine.recognise(image)
            reading = {"size": [image.width, image.height], "cpu_seconds": round(time.process_time() - start, 3),
                       "out": _jsonable(out)}
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(reading))
        ocr_cpu.append(reading["cpu_seconds"])
        sides.append(max(reading["size"]))
        out = SimpleNamespace(**reading["out"])
        texts = assembled_texts(engine, _page_for(tuple(reading["size"])), out)
        missed: dict[str, list[str]] = {}
        for name, value in entry["fields"].items():
            if not isinstance(value, str) or not value.strip():
                continue
            tally = fields.setdefault(name, {"total": 0, **{f"{k}{s}": 0 for k in COVERAGE_TEXTS for s in ("", "_alnum")}})
            tally["total"] += 1
            for kind, text in texts.items():
                exact, letters = holds(text, value)
                tally[kind] += exact
                tally[f"{kind}_alnum"] += letters
                if not exact:
                    missed.setdefault(name, []).append(kind)
        per_document.append({"id": entry["id"], "cpu_seconds": reading["cpu_seconds"], "long_side": max(reading["size"]),
                             "missed": missed})
    summary: dict[str, Any] = {}
    for kind in COVERAGE_TEXTS:
        for suffix in ("", "_alnum"):
            key = f"{kind}{suffix}"
            found = sum(t[key] for t in fields.values())
            total = sum(t["total"] for t in fields.values())
            summary[key] = round(found / total, 4) if total else None
    return {
        "dataset": dataset.name, "documents": len(per_document), "engine": engine.version,
        "options": {k: v for k, v in options.items() if k not in ("device", "threads")},
        # what each document was read with, where the document types changed the options
        "readings": [json.loads(r) for r in sorted(readings)],
        "coverage": summary,
        "fields": {name: {"total": t["total"], **{k: round(v / t["total"], 4) for k, v in t.items() if k != "total"}}
                   for name, t in fields.items()},
        "ocr_cpu_seconds_per_document": round(statistics.mean(ocr_cpu), 3) if ocr_cpu else None,
        "pages_over_2000_px": sum(1 for s in sides if s > 2000),
        "per_document": per_document,
    }


def coverage_markdown(report: dict[str, Any]) -> str:
    lines = [f"# OCR coverage ceiling: {report['dataset']} ({report['documents']} documents)", "",
             f"Engine `{report['engine']}`, options `{json.dumps(report['options'], sort_keys=True)}`; read with "
             + ", ".join(f"`{json.dumps(r, sort_keys=True)}`" for r in report.get("readings", ())) + ".", "",
             "Share of ground-truth values found in the text, whitespace and case aside (and, second figure, "
             "letters and digits only). raw: rapidocr's lines in its own order; assembled: the page's words "
             "after the product's line building and reading order (what is stored and what the rules read); "
             "lines: the lines rebuilt from geometry that the model reads.", "",
             "| field | n | raw | assembled | lines |", "|---|---|---|---|---|"]
    for name, f in report["fields"].items():
        lines.append(f"| {name} | {f['total']} | " + " | ".join(f"{f[k]} ({f[k + '_alnum']})" for k in COVERAGE_TEXTS) + " |")
    c = report["coverage"]
    lines.append("| all | | " + " | ".join(f"**{c[k]}** ({c[k + '_alnum']})" for k in COVERAGE_TEXTS) + " |")
    lines += ["", f"OCR CPU seconds per document (render, preprocessing and rapidocr): {report['ocr_cpu_seconds_per_document']}; "
              f"prepared pages longer than 2000 px: {report['pages_over_2000_px']}.", "",
              "Values missed by the assembled text but held by the raw text:", ""]
    for doc in report["per_document"]:
        lost = [name for name, kinds in doc["missed"].items() if "raw" not in kinds and "assembled" in kinds]
        if lost:
            lines.append(f"- {doc['id']}: {', '.join(lost)}")
    return "\n".join(lines) + "\n"


def write_coverage_report(report: dict[str, Any], out: Path, *, name: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(coverage_markdown(report))
    return json_path, md_path
