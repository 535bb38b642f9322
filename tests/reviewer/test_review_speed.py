"""Keystrokes and seconds to review a generated claim keyboard-only: three doubtful fields (an
impossible date of birth, a printed total that disagrees with the items, the five line items).

Measured, never asserted: the figures go to test-artifacts/review-speed.json under the label
DOCPROC_UI_LABEL (default "current"), so the same test run against an older checkout of the UI
gives the "before" figures beside these. The test asserts only that the review was done right."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from docproc.models import DocumentStatus, Field

from .test_browser import ARTIFACTS, browser, page, sign_in  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIVE_ITEMS = [
    {"description": "Roof shingles", "amount": "120.00"},
    {"description": "Fence panels", "amount": "45.50"},
    {"description": "Gutter repair", "amount": "310.25"},
    {"description": "Tree removal", "amount": "89.99"},
    {"description": "Temporary lodging", "amount": "1,034.26"},
]
# The reviewer reads item 4 as 98.99 on the paper and the total as the items' sum.
CORRECTED_ITEMS = [dict(i) for i in FIVE_ITEMS]
CORRECTED_ITEMS[3]["amount"] = "98.99"
CORRECTED_TOTAL = "1,609.00"
CORRECTED_DOB = "02/28/1943"


class Keys:
    """page.keyboard that counts keys: a chord such as Control+A is two, typed text one per character."""

    def __init__(self, pg) -> None:
        self.page, self.count = pg, 0

    def press(self, key: str) -> None:
        self.count += len(key.split("+"))
        self.page.keyboard.press(key)

    def type(self, text: str) -> None:
        self.count += len(text)
        self.page.keyboard.type(text)


def _report(label: str, figures: dict) -> Path:
    out = Path(os.environ.get("DOCPROC_SPEED_REPORT") or ARTIFACTS / "review-speed.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(out.read_text()) if out.is_file() else {}
    data[label] = figures
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def test_keyboard_only_review_of_a_claim_with_five_line_items(page, make_user, review_doc):  # noqa: F811
    doc = review_doc(seed=21, changes={"claimant_dob": "02/30/1943", "amount_claimed": "9,999.00",
                                       "line_items": FIVE_ITEMS})
    waiting = sorted(Field.objects.filter(document=doc, status="needs_review").values_list("name", flat=True))
    assert waiting == ["amount_claimed", "claimant_dob", "line_items"]
    sign_in(page, make_user("reviewer", "ana"))
    keys = Keys(page)
    keys.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    page.wait_for_selector(".field.current")
    started = time.perf_counter()

    def save_and_wait(name: str, submit_key: str) -> None:
        keys.press(submit_key)
        page.locator(f".field[data-name={name}] [data-role=status]").filter(has_text="Corrected").wait_for()

    while page.get_attribute(".field.current", "data-name") != "claimant_dob":
        keys.press("Tab")
    keys.press("e")
    keys.press("Control+A")
    keys.type(CORRECTED_DOB)
    save_and_wait("claimant_dob", "Enter")
    while page.get_attribute(".field.current", "data-name") != "amount_claimed":
        keys.press("Tab")
    keys.press("e")
    keys.press("Control+A")
    keys.type(CORRECTED_TOTAL)
    save_and_wait("amount_claimed", "Enter")
    while page.get_attribute(".field.current", "data-name") != "line_items":
        keys.press("Tab")
    keys.press("e")
    table_editor = page.locator(".field[data-name=line_items] .items-editor input[data-col]").count() > 0
    if table_editor:
        for _ in range(3):
            keys.press("ArrowDown")  # row 4, description
        keys.press("Tab")  # its amount
        keys.press("Control+A")
        keys.type("98.99")
        save_and_wait("line_items", "Enter")
    else:  # the earlier screen: the rows as JSON text
        keys.press("Control+A")
        keys.type(json.dumps(CORRECTED_ITEMS))
        save_and_wait("line_items", "Control+Enter")
    keys.press("Control+Enter")
    page.wait_for_selector(".msg.success")
    seconds = time.perf_counter() - started

    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REVIEWED
    values = {f.name: f.value for f in Field.objects.filter(document=doc, name__in=["claimant_dob", "amount_claimed", "line_items"])}
    assert values == {"claimant_dob": CORRECTED_DOB, "amount_claimed": CORRECTED_TOTAL, "line_items": CORRECTED_ITEMS}
    out = _report(os.environ.get("DOCPROC_UI_LABEL", "current"), {
        "keystrokes": keys.count, "seconds": round(seconds, 2), "line_items_editor": "table" if table_editor else "json",
        "commit": _commit(), "doubtful_fields": 3, "line_items": len(FIVE_ITEMS),
    })
    print(f"review keystrokes {keys.count}, {seconds:.2f} s -> {out}")
