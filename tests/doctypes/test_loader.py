"""Document types as YAML: the shipped files, defaults, and mistakes reported with file and line."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from docproc import doctypes
from docproc.doctypes import (
    DOC_TYPES,
    DocTypeError,
    ItemsSum,
    get_doctype,
    load_file,
    parse_doctype,
)
from docproc.doctypes.loader import load_types
from docproc.doctypes.schema import VALIDATOR_NAMES
from docproc.pipeline.extract.prompts import build_prompt
from docproc.pipeline.validate import VALIDATORS, cross_check, normalize_checkbox, normalize_field
from fixtures.pet_claims import PET_CLAIM_YAML

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_types_are_the_yaml_files():
    shipped = {p.stem for p in (ROOT / "docproc" / "doctypes").glob("*.yaml")}
    assert shipped == {"claim", "receipt", "invoice", "cms1500"}
    assert not any((ROOT / "docproc" / "doctypes" / f"{n}.py").exists() for n in shipped)
    for name in shipped:
        assert get_doctype(name).source.endswith(f"{name}.yaml")


def test_type_knowledge_comes_from_the_files():
    receipt, claim, invoice, cms = (get_doctype(n) for n in ("receipt", "claim", "invoice", "cms1500"))
    assert receipt.day_first and not claim.day_first and not invoice.day_first and not cms.day_first
    assert claim.checks == (ItemsSum(items="line_items", item="amount", total="amount_claimed"),)
    assert cms.template == "cms1500"
    assert receipt.field("company").position == "top" and receipt.field("company").memory == "sender"
    assert invoice.field("issuer").memory == "sender"
    assert receipt.field("address").review_threshold == 1.0
    assert "sdn" in receipt.words.legal_suffixes and "selangor" in receipt.words.regions
    assert [s.name for s in claim.field("line_items").item_fields] == ["description", "amount"]


def test_only_name_and_type_are_required_and_the_rest_has_defaults():
    dt = parse_doctype("name: lab_report\nfields:\n  - {name: patient, type: name}\n")
    assert (dt.title, dt.date_order, dt.charset, dt.checks, dt.template) == ("Lab report", "month_first", "all", (), "")
    assert dt.ocr.given() == {}
    wide = parse_doctype("name: slip\nocr: {unclip_ratio: 2, thresh: 0.2, max_side_len: 0}\n"
                         "fields:\n  - {name: total, type: amount}\n")
    assert wide.ocr.given() == {"unclip_ratio": 2.0, "thresh": 0.2, "max_side_len": 0}
    f = dt.field("patient")
    assert (f.required, f.review_threshold, f.labels, f.validators, f.memory, f.position, f.prompt_hint) == (
        True, 0.9, (), (), "none", "any", "")


def test_every_validator_a_file_may_name_is_implemented():
    assert set(VALIDATOR_NAMES) == set(VALIDATORS)


BAD = [
    ("name: x\nfields:\n  - name: a\n    type: txt\n", 4, "'type' must be one of"),
    ("name: x\nfields:\n  - name: a\n    type: text\n    treshold: 0.5\n", 5, "unknown key 'treshold'"),
    ("name: x\nfields:\n  - name: a\n    labels: [A]\n", 3, "has no 'type'"),
    ("name: x\nfields:\n  - {name: a, type: amount}\n  - name: b\n    type: date\n    threshold: 1.5\n", 6,
     "'threshold' must be a number from 0 to 1"),
    ("name: x\nfields:\n  - name: a\n    type: code\n    validators:\n      - npi\n      - luhn\n", 7,
     "unknown validator 'luhn'"),
    ("name: x\nfields:\n  - name: rows\n    type: list\n", 4, "needs 'fields'"),
    ("name: x\nfields:\n  - {name: a, type: text}\n  - {name: a, type: date}\n", 4, "defined twice"),
    ("name: x\nfields:\n  - {name: a, type: amount}\nchecks:\n  - {check: items_sum, items: rows, item: x, total: a}\n",
     5, "items 'rows' is not a field"),
    ("name: x\nfields:\n  - {name: a, type: text}\n  - {name: b, type: date}\nchecks:\n  - check: not_after\n"
     "    earlier: a\n    later: b\n", 7, "earlier 'a' is a text field, not date"),
    ("name: x\nfields:\n  - {name: a, type: text}\nchecks:\n  - {check: add_up}\n", 5, "'check' must be one of"),
    ("name: Pet Claim\nfields:\n  - {name: a, type: text}\n", 1, "must be lower case"),
    ("name: x\nocr:\n  unclip: 2\nfields:\n  - {name: a, type: text}\n", 3, "unknown key 'unclip' in 'ocr'"),
    ("name: x\nocr:\n  box_thresh: 1.2\nfields:\n  - {name: a, type: text}\n", 3,
     "'box_thresh' must be a number between 0 and 1"),
    ("name: x\nocr:\n  max_side_len: -5\nfields:\n  - {name: a, type: text}\n", 3,
     "'max_side_len' must be a whole number"),
    ("name: x\nocr: wide\nfields:\n  - {name: a, type: text}\n", 2, "'ocr' must be a mapping"),
    ("name: x\ntemplate: w9\nfields:\n  - {name: a, type: text}\n", 2, "no form template 'w9'"),
    ("name: x\nfields:\n  - {name: a, type: text\n", 4, "not valid YAML"),
    ("name: x\ndate_order: dmy\nfields:\n  - {name: a, type: date}\n", 2, "day_first, month_first"),
    ("name: x\nfields:\n  - {name: a, type: text, required: maybe}\n", 3, "must be true or false"),
    ("name: x\n", 1, "needs 'fields'"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD)
def test_a_mistake_names_the_file_and_its_line(tmp_path, text, line, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(DocTypeError) as caught:
        load_file(path)
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert message in str(caught.value)


def test_a_user_type_may_not_take_a_shipped_name(tmp_path):
    (tmp_path / "mine.yaml").write_text("name: receipt\nfields:\n  - {name: a, type: text}\n")
    with pytest.raises(DocTypeError, match=r"mine\.yaml:1: document type 'receipt' is already defined by .*receipt\.yaml"):
        load_types([ROOT / "docproc" / "doctypes", tmp_path])


def test_configure_loads_the_user_folder_and_keeps_the_old_set_on_a_broken_file(tmp_path, settings):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "pet_claim.yaml").write_text(PET_CLAIM_YAML)
    (bad / "broken.yml").write_text("name: broken\nfields: []\n")
    try:
        doctypes.configure(good)
        assert "pet_claim" in DOC_TYPES and "receipt" in DOC_TYPES
        with pytest.raises(DocTypeError, match=r"broken\.yml:2: "):
            doctypes.configure(bad)
        assert "pet_claim" in DOC_TYPES
    finally:
        doctypes.configure(settings.DOCPROC_DOCTYPES_DIR)
    assert "pet_claim" not in DOC_TYPES


def test_the_named_checks_read_the_fields_they_name():
    dt = parse_doctype(PET_CLAIM_YAML)
    rows = [{"description": "X-ray", "cost": "100.00"}, {"description": "Consultation", "cost": "45.50"}]
    normalized = {"treatments": rows, "total_claimed": "145.50", "pet_birth_date": "2019-04-03",
                  "treatment_date": "2025-06-05"}
    assert cross_check(dt, normalized) == {}
    wrong = cross_check(dt, {**normalized, "total_claimed": "150.00", "pet_birth_date": "2026-01-01"})
    assert wrong["treatments"] == ("cross-check: treatments add up to 145.50, not 150.00",)
    assert wrong["total_claimed"] == ("cross-check: treatments add up to 145.50, not 150.00",)
    assert wrong["pet_birth_date"] == wrong["treatment_date"] == (
        "cross-check: pet_birth_date 2026-01-01 is after treatment_date 2025-06-05",)


def test_the_prompt_reads_hints_labels_and_version_from_the_file():
    dt = parse_doctype(PET_CLAIM_YAML)
    prompt = build_prompt(dt)
    assert prompt.version == "pet_claim-v5"
    assert prompt.system.startswith("You read one pet insurance claim ")
    assert "- vet_practice: the name of the veterinary practice that treated the pet\n" in prompt.system
    assert "- pet_name: pet name (printed next to a label such as 'Pet Name')\n" in prompt.system
    assert build_prompt(parse_doctype(PET_CLAIM_YAML + "prompt_version: 7\n")).version == "pet_claim-v7"


def test_a_checkbox_is_ticked_empty_or_invalid():
    spec = parse_doctype(PET_CLAIM_YAML).field("accident")
    assert normalize_field(spec, "X", day_first=True) == (True, ())
    assert normalize_field(spec, "No", day_first=True) == (False, ())
    assert normalize_field(spec, "maybe", day_first=True) == (None, ("invalid: not a ticked or empty box",))
    assert normalize_checkbox("☒") is True and normalize_checkbox("☐") is False


def test_the_readme_example_is_the_fixture_type():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Add your own document type", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None
    assert parse_doctype(block.group(1)) == parse_doctype(PET_CLAIM_YAML)


def test_doctypes_check_command_prints_file_and_line_and_fails(tmp_path, capsys):
    good = tmp_path / "pet_claim.yaml"
    good.write_text(PET_CLAIM_YAML)
    bad = tmp_path / "bad.yaml"
    bad.write_text(PET_CLAIM_YAML.replace("type: checkbox", "type: tickbox"))
    call_command("doctypes", "check", str(good))
    assert "ok: pet_claim (11 fields)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="1 of 2"):
        call_command("doctypes", "check", str(good), str(bad))
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), start=1) if "tickbox" in t)
    assert f"{bad}:{line}: field 'accident': 'type' must be one of" in capsys.readouterr().err


def test_doctypes_list_names_every_type_and_its_file(capsys):
    call_command("doctypes", "list")
    out = capsys.readouterr().out
    for name in ("claim", "receipt", "invoice", "cms1500"):
        assert re.search(rf"^{name} .*{name}\.yaml$", out, re.MULTILINE), out


def test_a_broken_user_type_stops_start_up_naming_file_and_line(tmp_path):
    (tmp_path / "lab.yaml").write_text("name: lab\nfields:\n  - name: a\n    type: text\n    required: perhaps\n")
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                          env={**_env(), "DOCPROC_DOCTYPES_DIR": str(tmp_path)}, timeout=120)
    assert proc.returncode != 0
    assert f"{tmp_path / 'lab.yaml'}:5: field 'a': 'required' must be true or false" in proc.stderr


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DOCPROC_DOCTYPES_DIR"}


def test_the_types_and_the_pipeline_load_without_django():
    """The loader and the stages that read a type stay framework-free: importing them adds no
    Django module to those the package's own __init__ (the Celery app) brings."""
    code = ("import sys, docproc; web = lambda: {m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')}; "
            "before = web(); import docproc.doctypes as d, docproc.pipeline.runner, docproc.pipeline.extract.llm; "
            "d.get_doctype('receipt'); added = sorted(web() - before); print(added); sys.exit(1 if added else 0)")
    env = {k: v for k, v in _env().items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("package", ["docproc/doctypes", "docproc/pipeline"])
def test_no_module_of_the_types_or_the_pipeline_names_django(package):
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("django", "rest_framework") for n in names), path
