"""The version strings a run records fit their columns: PostgreSQL refuses a longer value, and the
document would fail after its extraction finished (SQLite stores it, so the suite's default
database would not see it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docproc.models import Document, ExtractionRun, FieldOutcome
from docproc.pipeline.confidence import CALIBRATION_DIR

pytestmark = pytest.mark.django_db


def _shipped_versions() -> list[str]:
    return [json.loads(p.read_text())["version"] for p in sorted(Path(CALIBRATION_DIR).glob("*.json"))]


def test_every_shipped_calibration_version_and_a_long_model_name_fit_a_run():
    versions = _shipped_versions()
    assert versions and max(map(len, versions)) > 50  # the shipped names are longer than the old column
    doc = Document.objects.create(doc_type="receipt", original_name="r.png", sha256="0" * 64, size=1)
    model = "1:" + "a-user-model-with-a-long-file-name-q4_k_m" * 3
    for version in versions:
        run = ExtractionRun.objects.create(document=doc, extractor="llamacpp", extractor_version=model,
                                           calibration_version=version)
        run.full_clean(exclude=["document", "engines", "timings"])
        run.refresh_from_db()
        assert run.calibration_version == version and run.extractor_version == model
    outcome = FieldOutcome(document=doc, doc_type="receipt", field_name="total", backend="llamacpp", model=model,
                           calibration_version=versions[-1], correct=True)
    outcome.save()
    outcome.refresh_from_db()
    assert outcome.calibration_version == versions[-1]


def test_each_shipped_calibration_is_the_only_one_for_its_engine_model_and_prompt():
    """The pipeline takes the first calibration that applies: a second file for the same
    (engine, model, prompt version), such as an older fit left beside a refit, would shadow one
    of them. Each file is named after what it applies to, as ``bench_extract`` installs it."""
    from docproc.pipeline.confidence import Calibration

    seen: dict[tuple[str, str, str], str] = {}
    for path in sorted(Path(CALIBRATION_DIR).glob("*.json")):
        cal = Calibration.from_json(json.loads(path.read_text()))
        key = (cal.engine, cal.model, cal.prompt_version)
        assert key not in seen, f"{path.name} and {seen[key]} both calibrate {key}"
        seen[key] = path.name
        assert path.name == f"{cal.engine}-{cal.model}-{cal.prompt_version}.json"
