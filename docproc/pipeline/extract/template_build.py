"""Derive a form template from a blank AcroForm PDF: where each field's widgets are, and where
the form's printed labels are (the anchors a scan is registered by).

The template holds derived geometry only (normalised rectangles and label words), never the
form itself, so the extractor works where the blank form is not installed. Run it again with
``manage.py form_template`` when the form changes.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..types import PageImage, PageWords

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "doctypes" / "templates"

# docproc field -> the AcroForm widgets that carry it and how their values are put together.
# The widget names are those of the CMS-1500 (02/12) AcroForm: ``pin`` is box 33a (billing
# provider NPI; ``pin1`` is 32a, the service facility's), ``t_charge`` box 28, ``tax_id`` box 25.
CMS1500_FIELDS: dict[str, dict[str, Any]] = {
    "insured_id": {"parts": ["insurance_id"], "format": "{insurance_id}"},
    "patient_name": {"parts": ["pt_name"], "format": "{pt_name}"},
    "patient_dob": {"parts": ["birth_mm", "birth_dd", "birth_yy"], "format": "{birth_mm}/{birth_dd}/{birth_yy}"},
    "insured_name": {"parts": ["ins_name"], "format": "{ins_name}"},
    "patient_address": {"parts": ["pt_street", "pt_city", "pt_state", "pt_zip"],
                        "format": "{pt_street}, {pt_city}, {pt_state} {pt_zip}"},
    "policy_number": {"parts": ["ins_policy"], "format": "{ins_policy}"},
    "diagnosis_code_1": {"parts": ["diagnosis1"], "format": "{diagnosis1}"},
    "total_charge": {"parts": ["t_charge"], "format": "{t_charge}"},
    "billing_npi": {"parts": ["pin"], "format": "{pin}"},
    "tax_id": {"parts": ["tax_id"], "format": "{tax_id}"},
}
TEMPLATE_FIELDS: dict[str, dict[str, dict[str, Any]]] = {"cms1500": CMS1500_FIELDS}


def anchor_key(text: str) -> str:
    """What two readings of the same label word share: letters and digits, upper case."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def _widgets(form: Path, page_index: int) -> tuple[tuple[float, float], list[tuple[str, tuple[float, float, float, float]]]]:
    from pypdf import PdfReader

    page = PdfReader(str(form)).pages[page_index]
    box = page.mediabox
    x_min, y_min = float(box.left), float(box.bottom)
    width, height = float(box.width), float(box.height)
    found: list[tuple[str, tuple[float, float, float, float]]] = []
    for ref in page.get("/Annots") or []:
        annot = ref.get_object()
        if annot.get("/Subtype") != "/Widget" or "/Rect" not in annot:
            continue
        name = annot.get("/T")
        if name is None and annot.get("/Parent") is not None:
            name = annot["/Parent"].get_object().get("/T")
        x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
        rect = (
            round((min(x0, x1) - x_min) / width, 5),
            round((height - (max(y0, y1) - y_min)) / height, 5),
            round((max(x0, x1) - x_min) / width, 5),
            round((height - (min(y0, y1) - y_min)) / height, 5),
        )
        found.append((str(name or ""), rect))
    return (width, height), found


def build_template(form: Path, *, name: str, ocr_words: PageWords, page_index: int = 0) -> dict[str, Any]:
    """The template of page ``page_index + 1`` of ``form``: field rectangles from its widgets,
    every widget's rectangle (a digital fill's words lie inside them), and the printed label
    words ``ocr_words`` read on the rendered blank page, those unique on the page marked as anchors."""
    size, widgets = _widgets(form, page_index)
    by_name: dict[str, tuple[float, float, float, float]] = {}
    for widget_name, rect in widgets:
        by_name.setdefault(widget_name, rect)
    fields: dict[str, Any] = {}
    for field_name, spec in TEMPLATE_FIELDS[name].items():
        missing = [p for p in spec["parts"] if p not in by_name]
        if missing:
            raise ValueError(f"the form has no widget {', '.join(missing)} for field {field_name}")
        fields[field_name] = {"format": spec["format"],
                              "parts": [{"widget": p, "rect": list(by_name[p])} for p in spec["parts"]]}
    counts = Counter(anchor_key(w.text) for w in ocr_words.words)
    labels = []
    for w in ocr_words.words:
        key = anchor_key(w.text)
        if not key:
            continue
        anchor = counts[key] == 1 and len(key) >= 4 and w.confidence >= 0.8 and not key.isdigit()
        labels.append({"text": w.text, "bbox": [round(v, 5) for v in w.bbox], "anchor": anchor})
    return {
        "name": name,
        "version": "1",
        "page_size": list(size),
        "form_sha256": hashlib.sha256(form.read_bytes()).hexdigest(),
        "label_engine": f"{ocr_words.engine} {ocr_words.engine_version}",
        "fields": fields,
        "widgets": [list(rect) for _, rect in widgets],
        "labels": labels,
    }


def render_blank(form: Path, *, page: int = 1, dpi: int = 300) -> PageImage:
    from ..render import page_image

    return page_image(form, "application/pdf", page, dpi=dpi, max_image_pixels=200_000_000)
