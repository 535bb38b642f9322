"""bench_stream on generated receipts: the stream is extracted and reviewed in order, each result
written as at extraction in the shape ``manage.py extract`` writes, and the memory's gain shows
against a run without it."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from docproc.models import ApiClient, Document, SenderMemory

pytestmark = pytest.mark.django_db


def test_the_stream_learns_from_its_reviews_and_reports_it(tmp_path):
    from docproc.management.commands.extract import extract_one
    from fixtures.receipts import generate_dataset

    dataset = generate_dataset(tmp_path / "receipts", sellers=(0, 1, 0, 1))
    call_command("bench_stream", str(dataset), "--out", str(tmp_path / "on"))
    call_command("bench_stream", str(dataset), "--out", str(tmp_path / "off"), "--no-memory")
    on = json.loads((tmp_path / "on" / "report.json").read_text())
    off = json.loads((tmp_path / "off" / "report.json").read_text())

    # Each seller's second receipt gets the name and address its first one's review verified.
    assert on["first_half"]["auto_from_memory"] == 0 and on["second_half"]["auto_from_memory"] == 4
    assert on["second_half"]["field_automation"] == 0.5 and off["second_half"]["field_automation"] == 0.0
    assert on["overall"]["auto_accepted_wrong"] == 0 and on["second_half"]["auto_precision"] == 1.0
    assert [s["from"] for s in on["per_20"]] == [1]

    third = json.loads((tmp_path / "on" / "documents" / "receipt-03.json").read_text())
    assert third["fields"]["company"]["source"] == "memory"
    assert third["document"]["status"] == "needs_review"  # as at extraction: the date and total wait
    reference = extract_one(dataset / "receipt-03.pdf", "receipt")
    assert set(third) == set(reference) and set(third["fields"]) == set(reference["fields"])
    assert set(third["fields"]["date"]) >= set(reference["fields"]["date"])
    assert "memory on" in (tmp_path / "on" / "report.md").read_text()
    # The runs clean up after themselves.
    assert not Document.objects.exists() and not SenderMemory.objects.exists()
    assert not ApiClient.objects.filter(name__startswith="bench-stream").exists()
