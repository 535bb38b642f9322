"""``manage.py extract``: run the pipeline in process (no broker, no database writes) and write
one JSON result per file, in exactly the API's result shape."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc import engines
from docproc.doctypes import DOC_TYPES, get_doctype
from docproc.pipeline.files import sha256_file
from docproc.pipeline.runner import process_file
from docproc.pipeline.types import PipelineError
from docproc.results import document_json, field_result_json, result_json
from docproc.services import sanitize_filename


def extract_one(path: Path, doc_type: str, *, on_stage=None) -> dict:
    """The result JSON for one file; a bad file gives a ``failed`` result with a code."""
    doctype = get_doctype(doc_type)
    try:
        digest = sha256_file(path)
    except OSError as exc:
        digest = ""
        read_error: PipelineError | None = PipelineError(f"The file cannot be read: {exc.strerror or exc}.", code="unreadable_file")
    else:
        read_error = None
    doc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"docproc:{digest}:{doc_type}")) if digest else str(uuid.uuid4())
    name = sanitize_filename(path.name)
    try:
        if read_error:
            raise read_error
        result = process_file(path, doctype, ocr=engines.get_ocr, extractor=engines.get_extractor(),
                              limits=engines.limits(), on_stage=on_stage,
                              layout=engines.get_layout if engines.get_layout() is not None else None,
                              second_reader=engines.get_second_reader)
    except PipelineError as exc:
        return result_json(
            document=document_json(id=doc_id, file=name, doc_type=doc_type, status="failed", pages=0,
                                   error_code=exc.code, error_detail=exc.detail),
            fields={}, timings={}, engines={},
        )
    except Exception as exc:  # one broken file must not stop the batch
        return result_json(
            document=document_json(id=doc_id, file=name, doc_type=doc_type, status="failed", pages=0,
                                   error_code="internal_error", error_detail=f"{type(exc).__name__}: {exc}"[:500]),
            fields={}, timings={}, engines={},
        )
    return result_json(
        document=document_json(id=doc_id, file=name, doc_type=doc_type, status=result.status,
                               pages=result.ingested.page_count),
        fields={f.name: field_result_json(f) for f in result.fields},
        timings=result.timings,
        engines=result.engines,
    )


class Command(BaseCommand):
    help = "Extract fields from files in process and write DIR/<file stem>.json for each."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--doc-type", required=True, choices=sorted(DOC_TYPES))
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")

    def handle(self, *args, files: list[Path], doc_type: str, out: Path, no_progress: bool, **opts):
        out.mkdir(parents=True, exist_ok=True)
        missing = [str(f) for f in files if not f.is_file()]
        if missing and len(missing) == len(files):
            raise CommandError(f"no such file: {', '.join(missing)}")
        show = sys.stderr.isatty() and not no_progress
        bar = None
        if show:
            from tqdm import tqdm

            bar = tqdm(total=len(files), unit="file", file=sys.stderr)
        used: set[str] = set()
        failed = 0
        for path in files:
            def on_stage(stage: str, page: int | None, _p=path) -> None:
                if bar is not None:
                    bar.set_postfix_str(f"{_p.name} {stage}" + (f" page {page}" if page else ""))

            data = extract_one(path, doc_type, on_stage=on_stage)
            stem = path.stem or "document"
            target = stem
            n = 2
            while target in used:
                target = f"{stem}-{n}"
                n += 1
            used.add(target)
            (out / f"{target}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            if data["document"]["status"] == "failed":
                failed += 1
                self.stderr.write(f"{path}: failed: {data['document']['error']['code']}: {data['document']['error']['detail']}")
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self.stdout.write(f"{len(files) - failed} processed, {failed} failed; results in {out}")
