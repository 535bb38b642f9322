"""The extraction benchmark: cross-fitted calibration and thresholds, and the command end to end
with the rules backend on generated digital claims (no OCR, no model)."""

from __future__ import annotations

import json
import random

from django.core.management import call_command

from docproc.bench.extract import _confidences, _fit_calibration, _thresholds, curve
from fixtures.claims import generate_dataset


def _rows(n: int, seed: int = 3) -> list[dict]:
    """Receipt-like rows: right values carry strong evidence, wrong ones mostly weak."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        for field in ("date", "total"):
            ok = rng.random() > 0.2
            strong = ok or rng.random() < 0.2
            signals = {"model": 0.98 if strong else 0.7, "model_min": 0.9 if strong else 0.4,
                       "grounding": 1.0, "ocr": 0.97, "valid": 1.0, "check": 1.0 if strong else 0.0}
            rows.append({"doc": f"d{i}", "split": "fit" if i % 2 else "report", "doctype": "receipt", "field": field,
                         "value": "x", "correct": ok, "eligible": True, "signals": signals, "raw_confidence": 0.5})
    return rows


def test_cross_fitted_calibration_scores_each_half_with_the_other_half_and_floors_thresholds():
    rows = _rows(60)
    cal = _fit_calibration(rows, "llamacpp", "m", "receipt-v4", {"fit"})
    assert set(cal.coefficients) == {"receipt.date", "receipt.total"}
    held_out = [r for r in rows if r["split"] == "report"]
    for r, confidence in zip(held_out, _confidences(held_out, cal), strict=True):
        r["confidence"] = confidence
    right = [r["confidence"] for r in held_out if r["correct"] and r["signals"]["check"] == 1.0]
    wrong = [r["confidence"] for r in held_out if not r["correct"] and r["signals"]["check"] == 0.0]
    assert right and wrong and min(right) > max(wrong)
    thresholds = _thresholds(held_out, [r["confidence"] for r in held_out], 0.99, 0.9)
    assert all(0.9 <= t <= 1.01 for t in thresholds.values())
    points = curve([(r["confidence"], True, r["correct"]) for r in held_out])
    automation = [p["automation"] for p in points]
    assert automation == sorted(automation, reverse=True)  # a higher threshold never accepts more


def test_a_data_set_of_two_types_gives_each_type_its_own_calibration_file(tmp_path):
    from docproc.bench.extract import write_calibrations
    from docproc.pipeline.confidence import Calibration

    rows = _rows(40) + [{**r, "doctype": "claim"} for r in _rows(40, seed=9)]
    written = write_calibrations(rows, {"receipt": "receipt-v5", "claim": "claim-v5"}, "llamacpp", "m", tmp_path)
    assert sorted(p.name for p in written) == ["calibration-llamacpp-m-claim-v5.json",
                                               "calibration-llamacpp-m-receipt-v5.json"]
    for path, kind in zip(sorted(written), ("claim", "receipt"), strict=True):
        cal = Calibration.from_json(json.loads(path.read_text()))
        assert cal.prompt_version == f"{kind}-v5" and cal.applies_to("llamacpp", "x:m", f"{kind}-v5")
        assert set(cal.coefficients) == {f"{kind}.date", f"{kind}.total"}


def test_two_types_with_a_field_of_one_name_get_a_threshold_each():
    """A claim's policy number and a CMS-1500's are two fields: one type's wrong values do not
    raise the other's threshold, and the figures name them apart."""
    from docproc.bench.extract import field_key

    rows = []
    for i in range(40):
        rows.append({"doctype": "claim", "field": "policy_number", "eligible": True, "correct": True})
        rows.append({"doctype": "cms1500", "field": "policy_number", "eligible": True, "correct": i % 4 != 0})
    confidences = [0.95] * len(rows)
    key = field_key(rows)
    thresholds = _thresholds(rows, confidences, 0.99, 0.9, key=key)
    assert thresholds == {"claim.policy_number": 0.9, "cms1500.policy_number": 1.01}
    pooled = _thresholds(rows, confidences, 0.99, 0.9)
    assert pooled == {"policy_number": 1.01}  # what one name for both did: the claims' values held too
    assert field_key(rows[:1])(rows[0]) == "policy_number"  # one type: plain names, as before


def test_two_fits_on_one_day_are_two_calibration_versions():
    first = _fit_calibration(_rows(60), "llamacpp", "m", "receipt-v4", {"fit"})
    again = _fit_calibration(_rows(60), "llamacpp", "m", "receipt-v4", {"fit"})
    other = _fit_calibration(_rows(60, seed=5), "llamacpp", "m", "receipt-v4", {"fit"})
    assert first.version == again.version  # the same weights: the same version
    assert other.version != first.version and other.version.rsplit("-", 1)[0] == first.version.rsplit("-", 1)[0]


def test_bench_extract_command_reports_every_field_with_the_rules_backend(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    dataset = tmp_path / "claims"
    generate_dataset(dataset, count=2, scans=False)
    out = tmp_path / "out"
    call_command("bench_extract", str(dataset), "--out", str(out), "--backends", "rules")
    report = json.loads((out / "report.json").read_text())
    rules = report["backends"]["rules"]
    assert report["documents"] == 2
    assert rules["summary"]["fields"] == 2 * len(rules["fields"])
    assert rules["summary"]["accuracy"] == 1.0  # the label rules read generated digital claims exactly
    assert all(f["curve"] and f["n"] == 2 for f in rules["fields"].values())
    rows = [json.loads(line) for line in (out / "rows-rules.jsonl").read_text().splitlines()]
    assert {r["doc"] for r in rows} == {"claim-000", "claim-001"}


def test_benchmark_compares_phone_numbers_dates_and_amounts_by_value():
    from docproc.bench.compare import values_match
    from docproc.doctypes import get_doctype

    claim = get_doctype("claim")
    assert values_match(claim.field("claimant_phone"), "926-964-9079", "(926) 964-9079", day_first=False)
    assert not values_match(claim.field("claimant_phone"), "926-964-9078", "(926) 964-9079", day_first=False)
    assert values_match(claim.field("date_of_loss"), "March 3, 2024", "2024-03-03", day_first=False)
    assert values_match(claim.field("amount_claimed"), "$1,421.64", "1421.64", day_first=False)
    assert values_match(claim.field("claimant_name"), "Rahul  tanaka ", "Rahul Tanaka", day_first=False)  # spacing, case
    receipt = get_doctype("receipt")
    # free text, whitespace aside (as the OCR coverage ceiling is measured); punctuation still counts
    assert values_match(receipt.field("address"), "No: 28, JALAN ASTANA 1C", "NO: 28,JALAN ASTANA 1C", day_first=True)
    assert not values_match(receipt.field("address"), "No: 28. JALAN ASTANA 1C", "NO: 28,JALAN ASTANA 1C", day_first=True)
    invoice = get_doctype("invoice")
    assert not values_match(invoice.field("invoice_number"), "INV 12", "INV12", day_first=False)  # a code keeps its spaces
    number = invoice.field("invoice_number")
    assert values_match(number, "# invoice_number_1", "invoice_number_1", day_first=False)  # the number sign aside
    assert values_match(number, "BLR_WFLD2015", "#BLR_WFLD2015", day_first=False)
    assert not values_match(number, "12572103", "993548900", day_first=False)


def test_an_auto_type_s_dates_are_compared_the_way_its_run_read_them():
    from docproc.bench.compare import reads_day_first, values_match
    from docproc.doctypes import get_doctype

    invoice, receipt = get_doctype("invoice"), get_doctype("receipt")
    assert reads_day_first(invoice, "day_first") and not reads_day_first(invoice, "month_first")
    assert not reads_day_first(invoice) and reads_day_first(receipt, "month_first")  # a fixed order stays
    assert values_match(invoice.field("date"), "8-9-2022", "2022-09-08", day_first=reads_day_first(invoice, "day_first"))


def test_both_benches_list_every_auto_accepted_wrong_value(tmp_path, settings):
    """Given a dataset whose truth disagrees with one value the rules read confidently, both
    benches count it as the headline and list it with its document, value, truth and signals."""
    settings.DATA_DIR = tmp_path / "data"
    dataset = tmp_path / "claims"
    generate_dataset(dataset, count=2, scans=False)
    manifest = dataset / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    printed = entries[0]["fields"]["claimant_name"]
    entries[0]["fields"]["claimant_name"] = "Someone Else"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    call_command("bench_extract", str(dataset), "--out", str(tmp_path / "x"), "--backends", "rules")
    rules = json.loads((tmp_path / "x" / "report.json").read_text())["backends"]["rules"]
    assert rules["summary"]["auto_accepted_wrong"] == 1
    (wrong,) = rules["auto_accepted_wrong_values"]
    assert (wrong["doc"], wrong["field"], wrong["value"], wrong["truth"]) == ("claim-000", "claimant_name", printed,
                                                                             "Someone Else")
    assert wrong["signals"]["model"] > 0 and wrong["confidence"] >= wrong["threshold"]
    call_command("bench", str(dataset), "--out", str(tmp_path / "b"), "--engine", "rules")
    (report,) = [json.loads(p.read_text()) for p in (tmp_path / "b").glob("*.json")]
    assert report["auto_accepted_wrong"] == 1
    assert [(w["doc"], w["field"], w["value"]) for w in report["auto_accepted_wrong_values"]] == [
        ("claim-000", "claimant_name", printed)]
    assert "auto-accepted wrong values** | **1**" in next((tmp_path / "b").glob("*.md")).read_text()


def test_a_field_the_truth_does_not_name_is_unscored_not_wrong(tmp_path, settings):
    """A key missing from a document's truth means the data set does not say (one invoice of the
    shared set has no amount in its truth, though its total is printed): the value read is listed
    as unscored and counts neither as wrong nor as right."""
    settings.DATA_DIR = tmp_path / "data"
    dataset = tmp_path / "claims"
    generate_dataset(dataset, count=2, scans=False)
    manifest = dataset / "manifest.jsonl"
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    read = entries[0]["fields"].pop("amount_claimed")
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    call_command("bench_extract", str(dataset), "--out", str(tmp_path / "x"), "--backends", "rules")
    rules = json.loads((tmp_path / "x" / "report.json").read_text())["backends"]["rules"]
    assert rules["summary"]["auto_accepted_wrong"] == 0 and rules["summary"]["accuracy"] == 1.0
    assert rules["summary"]["unscored_fields"] == 1 and rules["fields"]["amount_claimed"]["n"] == 1
    (unscored,) = rules["unscored"]
    assert (unscored["doc"], unscored["field"]) == ("claim-000", "amount_claimed")
    assert unscored["value"].replace(",", "").lstrip("$") == str(read).replace(",", "").lstrip("$")
