"""``manage.py bench_replay reviewed:claim``: reviewed claims replayed through another extractor,
the diff reported against the reviewers' values. The replayed extractor is a small fake around the
real rules extractor (what is under test is the replay and its accounting, not an engine)."""

from __future__ import annotations

import dataclasses
import json
from io import StringIO

import pytest
from django.core.management import call_command

from docproc.models import ExtractionRun
from docproc.pipeline import registry
from docproc.pipeline.extract.rules import RulesExtractor
from fixtures.review_documents import make_review_document
from tests.api.test_reprocess import reviewed

pytestmark = pytest.mark.django_db


class RereadingExtractor(RulesExtractor):
    """The rules, but reading the birth date as the reviewer did and the claim number wrong."""

    name = "rereading"

    def extract(self, document, doctype):
        out = super().extract(document, doctype)
        fixed = {"claimant_dob": "02/03/1943", "claim_number": "CLM-0000-000000"}
        return dataclasses.replace(out, candidates=tuple(
            dataclasses.replace(c, value=fixed[c.name]) if c.name in fixed else c for c in out.candidates))


def test_replay_of_reviewed_documents_reports_changed_fixed_and_new_wrong(make_api_client, tmp_path, monkeypatch):
    monkeypatch.setitem(registry.ENGINES["extract"], "rereading", f"{__name__}:RereadingExtractor")
    me, _ = make_api_client("acme")
    docs = [reviewed(make_review_document(seed=s, client=me)) for s in (60, 61)]
    out = StringIO()
    call_command("bench_replay", "reviewed:claim", "--engine", "rereading", "--out", str(tmp_path), stdout=out)
    report = json.loads((tmp_path / "report.json").read_text())
    summary = report["summary"]
    assert (summary["documents"], summary["fields"]) == (2, 22)
    assert (summary["changed"], summary["fixed"], summary["new_wrong"]) == (4, 2, 2)
    assert {(r["field"], r["after"]) for r in report["new_wrong"]} == {("claim_number", "CLM-0000-000000")}
    assert {r["field"] for r in report["fixed"]} == {"claimant_dob"}
    assert summary["accuracy_after"] == summary["accuracy_before"] and summary["fallback_documents_after"] == 0
    assert "new wrong" in out.getvalue()
    # Nothing was written to the documents: one run each, as reviewed.
    assert all(ExtractionRun.objects.filter(document=d).count() == 1 for d in docs)
