"""The hostile corpus through ``manage.py extract`` in one batch: one JSON per file, each bad file
failing alone with its code, the good ones processed."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from fixtures.hostile import HOSTILE_MAX_IMAGE_PIXELS, HOSTILE_RENDER_DPI, write_corpus


@pytest.mark.slow
def test_extract_command_runs_the_whole_corpus_in_one_batch(tmp_path, settings, ocr_available):
    settings.DOCPROC_MAX_IMAGE_PIXELS = HOSTILE_MAX_IMAGE_PIXELS
    settings.DOCPROC_RENDER_DPI = HOSTILE_RENDER_DPI
    corpus = write_corpus(tmp_path / "in", max_pages=settings.DOCPROC_MAX_PAGES)
    files = sorted((tmp_path / "in").iterdir())
    assert len(files) == len(corpus) >= 30

    call_command("extract", "--doc-type", "claim", "--out", str(tmp_path / "out"), "--no-progress", *map(str, files))

    for path in files:
        case = corpus[path.stem]
        result = json.loads((tmp_path / "out" / f"{path.stem}.json").read_text())
        doc = result["document"]
        if case.outcome == "processed":
            assert doc["status"] in ("needs_review", "auto_accepted"), (case.name, doc)
            assert doc["error"] is None and result["fields"], case.name
        else:
            # Without an upload step a refusal is a failed result with the same code.
            assert doc["status"] == "failed", (case.name, doc)
            assert doc["error"]["code"] == case.code, (case.name, doc["error"])
    control = json.loads((tmp_path / "out" / "control_claim_pdf.json").read_text())
    from fixtures.claims import make_claim

    assert control["fields"]["claim_number"]["value"] == make_claim(7).claim_number
