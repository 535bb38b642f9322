"""``manage.py form_template --form BLANK.pdf``: derive a form template from the blank form."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from docproc.pipeline.extract.template_build import (
    TEMPLATE_DIR,
    TEMPLATE_FIELDS,
    build_template,
    render_blank,
)
from docproc.pipeline.registry import get_engine


class Command(BaseCommand):
    help = ("Write the template (field rectangles and anchor labels) of a blank AcroForm to "
            "docproc/doctypes/templates/NAME.json. The form itself is never copied.")

    def add_arguments(self, parser):
        parser.add_argument("--form", required=True, type=Path, help="the blank AcroForm PDF")
        parser.add_argument("--name", default="cms1500", choices=sorted(TEMPLATE_FIELDS))
        parser.add_argument("--out", type=Path, default=None, help="default: the committed template file")
        parser.add_argument("--ocr", default="rapidocr", help="OCR engine that reads the printed labels")

    def handle(self, *args, form: Path, name: str, out: Path | None, ocr: str, **opts):
        if not form.is_file():
            raise CommandError(f"no blank form at {form}")
        engine = get_engine("ocr", ocr)
        words = engine.read(render_blank(form))
        template = build_template(form, name=name, ocr_words=words)
        target = out or TEMPLATE_DIR / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(template, indent=1) + "\n")
        anchors = sum(1 for lab in template["labels"] if lab["anchor"])
        self.stdout.write(f"{target}: {len(template['fields'])} fields, {len(template['labels'])} label words, "
                          f"{anchors} anchors")
