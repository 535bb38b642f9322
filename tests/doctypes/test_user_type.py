"""A document type the project does not ship, dropped into DOCPROC_DOCTYPES_DIR, extracted from a
generated form through ``manage.py extract`` and through the API (upload, a real worker, result)
with the rules extractor. No code knows the type: only its YAML file does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from docproc import doctypes
from fixtures.pet_claims import PET_CLAIM_YAML, make_pet_claim, write_pet_claim_pdf
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _day_first(printed: str) -> str:
    return datetime.strptime(printed, "%d/%m/%Y").date().isoformat()


@pytest.fixture
def pet_claim_type(tmp_path, settings, monkeypatch):
    """The pet claim type in a fresh DOCPROC_DOCTYPES_DIR, for this process and the ones it starts."""
    folder = tmp_path / "doctypes"
    folder.mkdir()
    (folder / "pet_claim.yaml").write_text(PET_CLAIM_YAML)
    monkeypatch.setenv("DOCPROC_DOCTYPES_DIR", str(folder))
    settings.DOCPROC_DOCTYPES_DIR = folder
    before = doctypes.DOC_TYPES.user_dir
    doctypes.configure(folder)
    yield folder
    doctypes.configure(before)


def _assert_fields(fields: dict, truth) -> None:
    expected = truth.fields()
    assert set(fields) == set(expected)
    for name, value in expected.items():
        assert fields[name]["value"] == value, name
        assert fields[name]["page"] == 1 and len(fields[name]["bbox"]) == 4, name
    # The type's date order, not the claim's: 03/04 is the 3rd of April.
    assert fields["treatment_date"]["normalized"] == _day_first(truth.treatment_date)
    assert fields["pet_birth_date"]["normalized"] == _day_first(truth.pet_birth_date)
    assert fields["accident"]["normalized"] is True
    assert fields["owner_phone"]["normalized"] == truth.owner_phone.replace(" ", "")


def test_manage_py_extract_reads_a_type_from_the_user_folder(pet_claim_type, tmp_path):
    """Given the pet claim type only in DOCPROC_DOCTYPES_DIR, when `manage.py extract` starts with it
    and reads a generated form and one whose treatments do not add up to the total, then every
    field of the first is read and accepted, and the second's total goes to review by the type's
    items_sum check."""
    truth = make_pet_claim(11)
    good = write_pet_claim_pdf(truth, tmp_path / "pet.pdf")
    bad = write_pet_claim_pdf(replace(truth, total_claimed="1.00"), tmp_path / "pet-bad-total.pdf")
    out = tmp_path / "out"
    env = {**os.environ, "DOCPROC_EXTRACT_ENGINE": "rules", "DOCPROC_DOCTYPES_DIR": str(pet_claim_type)}
    proc = subprocess.run([sys.executable, "manage.py", "extract", "--doc-type", "pet_claim", "--out", str(out),
                           "--no-progress", str(good), str(bad)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "pet.json").read_text())
    assert result["document"]["doc_type"] == "pet_claim"
    assert result["document"]["status"] == "auto_accepted", result["fields"]
    _assert_fields(result["fields"], truth)
    flagged = json.loads((out / "pet-bad-total.json").read_text())["fields"]
    assert flagged["total_claimed"]["status"] == "needs_review"
    assert any(m.startswith("cross-check: treatments add up to") for m in flagged["total_claimed"]["messages"])


def test_without_the_file_the_type_is_unknown(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DOCPROC_DOCTYPES_DIR"}
    env["DOCPROC_DOCTYPES_DIR"] = str(tmp_path)
    pdf = write_pet_claim_pdf(make_pet_claim(1), tmp_path / "pet.pdf")
    proc = subprocess.run([sys.executable, "manage.py", "extract", "--doc-type", "pet_claim", "--out",
                           str(tmp_path / "out"), str(pdf)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0 and "invalid choice: 'pet_claim'" in proc.stderr


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_api_and_a_real_worker_extract_a_type_from_the_user_folder(pet_claim_type, api, celery_worker_process):
    """Given the pet claim type in DOCPROC_DOCTYPES_DIR of the web and worker processes, when a
    generated form is uploaded over the API, then a real worker extracts it and the result API
    returns every field with its value, normalised value, page and box."""
    http, _ = api
    truth = make_pet_claim(23)
    pdf = write_pet_claim_pdf(truth, Path(pet_claim_type).parent / "pet.pdf")
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("pet.pdf", pdf.read_bytes()),
                                             "doc_type": "pet_claim"}, format="multipart")
    assert resp.status_code == 201, resp.content
    doc_id = resp.json()["id"]
    from docproc.models import Document

    def finished():
        doc = Document.objects.get(pk=doc_id)
        return doc.status if doc.status not in ("received", "processing") else None

    status = wait_for(finished, timeout=120)
    result = http.get(f"/api/v1/documents/{doc_id}/result/")
    assert result.status_code == 200
    body = result.json()
    waiting = {n: (f["value"], f["confidence"], f["messages"]) for n, f in body["fields"].items() if f["status"] != "auto_accepted"}
    assert status == "auto_accepted", (waiting, celery_worker_process.log_path.read_text()[-2000:])
    assert body["document"]["doc_type"] == "pet_claim"
    _assert_fields(body["fields"], truth)


def test_the_api_refuses_a_type_nobody_declared(api):
    http, _ = api
    resp = http.post("/api/v1/documents/", {"file": SimpleUploadedFile("pet.pdf", b"%PDF-1.7\n"),
                                             "doc_type": "pet_claim"}, format="multipart")
    assert resp.status_code == 400 and resp.json()["code"] == "unknown_doc_type"
    assert "receipt" in resp.json()["detail"]
