"""The generators behind tests and benchmarks produce documents whose truth is really printed."""

from __future__ import annotations

import json

import pdfplumber

from fixtures.claims import generate_dataset
from fixtures.cms1500 import write_cms1500


def test_generated_dataset_manifest_matches_files(tmp_path):
    manifest = generate_dataset(tmp_path, count=3, scans=True)
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert len(entries) == 6
    for e in entries:
        assert (tmp_path / e["file"]).is_file()
    digital = entries[0]
    with pdfplumber.open(tmp_path / digital["file"]) as pdf:
        text = pdf.pages[0].extract_text()
    assert digital["fields"]["claim_number"] in text and digital["fields"]["amount_claimed"] in text


def test_cms1500_is_filled_into_the_text_layer(tmp_path, datasets):
    from docproc.pipeline.validate import npi_is_valid

    truth = write_cms1500(datasets / "forms" / "cms1500_blank.pdf", tmp_path / "c.pdf", seed=7)
    with pdfplumber.open(tmp_path / "c.pdf") as pdf:
        assert len(pdf.pages) == 1
        words = {w["text"] for w in pdf.pages[0].extract_words()}
    for key in ("insured_id", "policy_number", "diagnosis_code_1", "total_charge", "billing_npi", "tax_id"):
        assert truth[key] in words, key
    assert npi_is_valid(truth["billing_npi"])
