"""The review UI in Debian's Chromium, driven by Playwright against a live server.

Screenshots are saved under test-artifacts/ (every page at 1366x768 and 1920x1080 in
test-artifacts/pages/); every page is checked with axe-core (tests/reviewer/axe.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from docproc.models import DocumentStatus, Field
from reviewer.models import FieldCorrection, ReviewTask

from .axe import assert_accessible, axe_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary blocking calls.
    # Set for this module only: subprocesses started by other tests must not inherit it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield b
            b.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(15000)
    pg = context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.accept_dialogs = False  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.accept() if pg.accept_dialogs else d.dismiss()))
    yield pg
    context.close()


def sign_in(page, user) -> None:
    page.goto("/review/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", user.username)
    page.fill("#id_password", f"pw-{user.username}-secret")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^[^?]*/review/$"))
    page.wait_for_selector("#stat-total")


def current_ids(page) -> tuple[str, str]:
    return (page.get_attribute(".field.current", "data-field-id"), page.get_attribute(".box.current", "data-field-id"))


def box_visible_in_viewer(page) -> bool:
    return page.evaluate("""() => {
        const v = document.getElementById('viewer').getBoundingClientRect();
        const b = document.querySelector('.box.current').getBoundingClientRect();
        return b.width > 0 && b.left >= v.left - 1 && b.right <= v.right + 1 && b.top >= v.top - 1 && b.bottom <= v.bottom + 1;
    }""")


def test_sign_in_claim_next_and_the_box_follows_the_field(page, make_user, review_doc):
    from django.utils import timezone

    first = review_doc(seed=1, name="claim-urgent.pdf", sla_deadline=timezone.now())
    review_doc(seed=2, name="claim-later.pdf")
    ana = make_user("reviewer", "ana")
    sign_in(page, ana)
    assert page.inner_text("#stat-total") == "2"
    assert "claim-urgent.pdf" in page.inner_text("table.queue")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)

    page.click("#next-button")
    page.wait_for_url(f"**/review/doc/{first.pk}/")
    assert page.evaluate("document.querySelector('#viewer .page.active img').naturalWidth") > 500  # the real page image
    assert ReviewTask.objects.get(document=first).assignee == ana
    field_id, box_id = current_ids(page)
    assert field_id == box_id and field_id is not None
    assert page.locator(".box").count() >= 8  # every located field has its box

    page.keyboard.press("+")
    page.keyboard.press("+")  # zoomed in: the highlighted box must be scrolled into view
    seen = {field_id}
    for _ in range(5):
        page.keyboard.press("j")
        field_id, box_id = current_ids(page)
        assert field_id == box_id
        assert box_visible_in_viewer(page)
        seen.add(field_id)
    assert len(seen) == 6
    address = page.locator(".field[data-name=claimant_address]")
    address.locator(".name").click()
    assert current_ids(page) == (address.get_attribute("data-field-id"),) * 2
    assert box_visible_in_viewer(page)
    page.keyboard.press("0")
    page.screenshot(path=str(ARTIFACTS / "review-screen.png"))
    page.keyboard.press("?")
    assert page.is_visible("#help-dialog")
    page.screenshot(path=str(ARTIFACTS / "review-shortcuts.png"))
    page.keyboard.press("Escape")
    assert not page.dialogs


def test_page_switcher_and_fields_on_another_page(page, make_user, review_doc):
    doc = review_doc(seed=9, pages=2)
    assert doc.pages.count() == 2 and all(p.image for p in doc.pages.all())
    sign_in(page, make_user("reviewer", "ana"))
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    assert page.get_attribute(".page.active", "data-page") == "1"
    page.keyboard.press("]")
    assert page.get_attribute(".page.active", "data-page") == "2"
    assert page.is_visible(".page[data-page='2'] img") and not page.is_visible(".page[data-page='1'] img")
    page.keyboard.press("j")  # the selected field's page comes back with its box
    field_id, box_id = current_ids(page)
    assert field_id == box_id
    box_page = page.evaluate("document.querySelector('.box.current').parentElement.dataset.page")
    assert box_page == page.get_attribute(".page.active", "data-page") == "1"
    page.click(".page-tab[data-page='2']")
    assert page.get_attribute(".page.active", "data-page") == "2"


def test_correct_a_field_with_the_keyboard_only(page, make_user, review_doc):
    doc = review_doc(seed=3)
    ana = make_user("reviewer", "ana")
    sign_in(page, ana)
    page.keyboard.press("n")  # Next from the queue
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    # The first field still to check is selected; Tab walks the waiting ones.
    while page.get_attribute(".field.current", "data-name") != "claimant_dob":
        page.keyboard.press("Tab")
    page.keyboard.press("e")
    focused = page.evaluate("document.activeElement.name")
    assert focused == "value"
    page.keyboard.press("Control+A")
    page.keyboard.type("02/20/1943")
    page.keyboard.press("Tab")  # to the reason
    page.keyboard.press("u")  # type-ahead: "Unreadable on the page"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-editing.png"))
    page.keyboard.press("Enter")
    dob = page.locator(".field[data-name=claimant_dob]")
    dob.locator("[data-role=status]").filter(has_text="Corrected").wait_for()
    assert dob.locator("[data-role=value]").inner_text() == "02/20/1943"
    correction = FieldCorrection.objects.get(document=doc, field_name="claimant_dob")
    assert (correction.new_value, correction.reason, correction.user) == ("02/20/1943", "unreadable", ana)
    field = Field.objects.get(pk=correction.field_id)
    assert field.value == "02/20/1943" and field.status == "corrected"
    # moved on to the next waiting field, when one is left
    left = int(page.get_attribute("#pending-count", "data-count"))
    assert left == 0 or page.get_attribute(".field.current", "data-name") != "claimant_dob"


def test_accept_all_confident_then_submit_opens_the_next_document(page, make_user, review_doc):
    from django.utils import timezone

    doc = review_doc(seed=4, offline=True, sla_deadline=timezone.now())
    following = review_doc(seed=5, name="claim-next.pdf")
    sign_in(page, make_user("reviewer", "ana"))
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    # The model was down: said once, and nothing the backup rules read is accepted in bulk.
    assert page.locator("#fallback-banner").count() == 1
    assert "did not answer" not in page.content()
    before = int(page.get_attribute("#pending-count", "data-count"))
    page.keyboard.press("Shift+A")
    page.wait_for_selector(".msg.success")
    after = int(page.get_attribute("#pending-count", "data-count"))
    assert after == before
    assert Field.objects.filter(document=doc, status="accepted").count() == 0
    page.accept_dialogs = True  # a value that fails a check: confirmed as printed
    for left in range(after - 1, -1, -1):  # look, then accept each
        page.keyboard.press("a")
        page.locator(f"#pending-count[data-count='{left}']").wait_for()
    assert page.get_attribute("#pending-count", "data-count") == "0"
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**/review/doc/{following.pk}/")
    assert "Review submitted." in page.inner_text(".messages")
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REVIEWED


def test_an_invalid_correction_is_refused_then_kept_only_as_printed(page, make_user, review_doc):
    """02/30/2025 for the date of loss: refused with the validator's message when the reviewer
    does not confirm; confirmed as printed, it is kept as a correction that is not valid."""
    doc = review_doc(seed=3)
    ana = make_user("reviewer", "ana")
    sign_in(page, ana)
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    loss = page.locator(".field[data-name=date_of_loss]")
    loss.click()
    loss.locator("button.edit").click()
    loss.locator("[name=value]").fill("02/30/2025")
    loss.locator("button.save").click()
    loss.locator(".field-error").filter(has_text="invalid: not a date").wait_for()
    assert any("Keep it as printed" in m for m in page.dialogs)
    field = Field.objects.get(document=doc, name="date_of_loss")
    assert field.status != "corrected" and field.value != "02/30/2025"
    page.accept_dialogs = True
    loss.locator("button.save").click()
    loss.locator("[data-role=status]").filter(has_text="Corrected").wait_for()
    field.refresh_from_db()
    assert (field.value, field.valid, field.source, field.confidence) == ("02/30/2025", False, "reviewer", 1.0)
    assert FieldCorrection.objects.get(field=field).reason == "as_printed"


def test_reject_with_a_reason(page, make_user, review_doc):
    doc = review_doc(seed=6)
    sign_in(page, make_user("reviewer", "ana"))
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    page.keyboard.press("r")
    assert page.is_visible("#reject-dialog")
    page.keyboard.press("4")  # duplicate
    page.fill("#reject-note", "same claim as CLM-2023-1")
    page.click("#reject-form button[type=submit]")
    page.wait_for_url(re.compile(r"^[^?]*/review/$"))
    assert "Document rejected." in page.inner_text(".messages")
    doc.refresh_from_db()
    assert doc.status == DocumentStatus.REJECTED and doc.error_code == "rejected_duplicate"
    assert ReviewTask.objects.get(document=doc).reject_note == "same claim as CLM-2023-1"


def test_a_reviewer_cannot_use_the_supervisor_actions(page, make_user, review_doc):
    doc = review_doc(seed=7)
    sign_in(page, make_user("reviewer", "ana"))
    assert page.locator("text=Reassign").count() == 0
    page.goto("/review/dashboard/")
    assert page.is_visible("#queue-depth")
    assert page.locator("#supervisor-actions").count() == 0 and page.locator("#thresholds").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-reviewer.png"), full_page=True)
    statuses = page.evaluate("""async (docId) => {
        const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
        const post = async (url, data) => {
            const body = new URLSearchParams(data);
            const r = await fetch(url, {method: 'POST', body, headers: {'X-CSRFToken': token}, redirect: 'manual'});
            return r.status;
        };
        return [await post('/review/thresholds/', {doc_type: 'claim', field_name: 'claimant_dob', threshold: '0.1'}),
                await post(`/review/doc/${docId}/reassign/`, {to_user: '1'})];
    }""", str(doc.pk))
    assert statuses == [403, 403]


def test_document_text_with_a_script_tag_does_not_run(page, make_user, review_doc):
    doc = review_doc(seed=8, name="<img src=x onerror=alert(2)>.pdf",
                     changes={"claimant_name": "<script>alert(1)</script>", "claimant_dob": "02/30/1943"})
    sign_in(page, make_user("reviewer", "ana"))
    assert "<img src=x onerror=alert(2)>.pdf" in page.inner_text("table.queue")
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    name = page.locator(".field[data-name=claimant_name] [data-role=value]")
    assert name.inner_text() == "<script>alert(1)</script>"
    page.goto(f"/review/documents/{doc.pk}/")
    assert "<script>alert(1)</script>" in page.inner_text("table.doc-fields")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "document-page.png"), full_page=True)
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0


def test_a_supervisor_releases_a_claim_and_changes_a_threshold(page, make_user, review_doc):
    from reviewer import services

    doc = review_doc(seed=10)
    ana = make_user("reviewer", "ana")
    services.review_task_claim_next(user=ana)
    sign_in(page, make_user("supervisor", "sue"))
    assert page.inner_text("table.queue tbody tr td.held") == "ana"  # held by
    assert page.locator("table.queue").get_by_role("button", name="Reassign").count() == 1
    page.goto("/review/dashboard/")
    row = page.locator("#supervisor-actions tr", has_text=doc.original_name)
    row.get_by_role("button", name="Release").click()
    page.wait_for_selector(".msg")
    assert ReviewTask.objects.get(document=doc).assignee is None
    page.fill("input[aria-label='Threshold for claim.claimant_dob']", "0.45")
    page.locator("tr", has=page.locator("input[aria-label='Threshold for claim.claimant_dob']")).get_by_role(
        "button", name="Save").click()
    page.wait_for_selector(".msg.success")
    from reviewer.models import ThresholdSetting

    assert ThresholdSetting.objects.get(doc_type="claim", field_name="claimant_dob").threshold == 0.45
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-supervisor.png"))


def focused(page) -> str:
    """What has the keyboard: an element's id, else its tag, class and text."""
    return page.evaluate("""() => {
        const e = document.activeElement;
        if (!e) return '';
        return e.id ? '#' + e.id : `${e.tagName.toLowerCase()}.${e.className}:${(e.textContent || '').trim().slice(0, 30)}`;
    }""")


def test_line_items_are_corrected_in_the_table_editor(page, make_user, review_doc):
    """Given a claim whose printed total disagrees with its three line items, when the reviewer
    corrects them in the table editor with the keyboard (change an amount, add a row, delete a
    row), then each focused cell's box is highlighted on the page, the sum follows the typing and
    the saved value is the edited table."""
    doc = review_doc(seed=3)
    items = Field.objects.get(document=doc, name="line_items")
    assert [r["amount"] for r in items.value] == ["1,607.54", "54.51", "2,402.41"]
    sign_in(page, make_user("reviewer", "ana"))
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    while page.get_attribute(".field.current", "data-name") != "line_items":
        page.keyboard.press("Tab")
    page.keyboard.press("e")
    editor = page.locator(".field[data-name=line_items] .items-editor")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Row 1 description"
    # The focused cell's own box is lit, inside the table's box, on the words of that cell.
    cell = page.locator(".cell-box.current")
    assert (cell.get_attribute("data-row"), cell.get_attribute("data-col")) == ("0", "description")
    table_box = page.locator(f".box[data-field-id='{items.pk}']").bounding_box()
    cell_box = cell.bounding_box()
    assert table_box["y"] - 2 <= cell_box["y"] and cell_box["y"] + cell_box["height"] <= table_box["y"] + table_box["height"] + 2
    assert cell_box["width"] < table_box["width"] / 2
    assert page.locator(f".cell-box[data-field-id='{items.pk}']").count() == 6  # every cell was found on the page
    assert editor.locator("[data-role=sum]").inner_text() == "4,064.46"
    assert "differs" in editor.locator("[data-role=match]").inner_text()

    page.keyboard.press("ArrowDown")  # same column, next row
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Row 2 description"
    assert page.get_attribute(".cell-box.current", "data-row") == "1"
    page.keyboard.press("Tab")  # next cell: the amount of row 2
    assert page.get_attribute(".cell-box.current", "data-col") == "amount"
    page.keyboard.press("Control+A")
    page.keyboard.type("154.51")
    assert editor.locator("[data-role=sum]").inner_text() == "4,164.46"
    page.keyboard.press("Alt+Enter")  # a new row below row 2
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Row 3 description"
    page.keyboard.type("Gutter guards")
    page.keyboard.press("Tab")
    page.keyboard.type("25.00")
    page.keyboard.press("ArrowDown")  # the old row 3 is now row 4: delete it
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Row 4 amount"
    page.keyboard.press("Alt+Backspace")
    assert editor.locator("tbody tr").count() == 3
    assert editor.locator("[data-role=sum]").inner_text() == "1,787.05"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-line-items.png"))
    page.keyboard.press("Enter")  # save, with the default reason
    li = page.locator(".field[data-name=line_items]")
    li.locator("[data-role=status]").filter(has_text="Corrected").wait_for()
    expected = [{"description": "Tree removal", "amount": "1,607.54"}, {"description": "Gutter repair", "amount": "154.51"},
                {"description": "Gutter guards", "amount": "25.00"}]
    items.refresh_from_db()
    assert items.value == expected and items.status == "corrected"
    assert items.original_value[2]["description"] == "Roof shingles"  # the machine's value is kept
    assert FieldCorrection.objects.get(document=doc, field_name="line_items").new_value == expected
    assert li.locator("[data-role=value]").inner_text() == "3 rows"

    # Correcting the printed total to the new sum makes the comparison agree.
    amount = page.locator(".field[data-name=amount_claimed]")
    amount.locator(".name").click()
    page.keyboard.press("e")
    page.keyboard.press("Control+A")
    page.keyboard.type("1,787.05")
    assert "matches" in editor.locator("[data-role=match]").inner_text()


def test_tab_leaves_the_fields_for_submit_navigation_and_sign_out(page, make_user, review_doc):
    """Given a review with nothing left to check, Tab from the field list reaches Submit, then the
    rest of the page in its usual order, the navigation and Sign out included; the page viewer
    takes the keyboard and scrolls with the arrow keys."""
    doc = review_doc(seed=11)
    sign_in(page, make_user("reviewer", "ana"))
    # A field failing a check asks to confirm it as printed. The page fixture answers every
    # dialog (dismissing by default); a second handler here would race with that dismiss.
    page.accept_dialogs = True
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    pending = int(page.get_attribute("#pending-count", "data-count"))
    assert pending >= 2
    page.keyboard.press("Tab")  # fields still to check come first
    assert page.get_attribute(".field.current", "class").count("needs_review") == 1
    for left in range(pending - 1, -1, -1):
        page.keyboard.press("a")
        page.locator(f"#pending-count[data-count='{left}']").wait_for()
    assert any("Keep it as printed" in m for m in page.dialogs)  # the confirm was asked, and accepted
    assert focused(page).startswith("#field-")
    page.keyboard.press("Tab")
    assert focused(page) == "#submit-button"
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.append(focused(page))
        if "Sign out" in seen[-1]:
            break
    assert "#viewer" in seen
    assert any(s.endswith(":Queue") for s in seen) and any(s.endswith(":Dashboard") for s in seen), "\n".join(seen)
    assert "Sign out" in seen[-1]
    assert "#time-zone" in seen  # the zone, linked to the settings, before Sign out
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "#time-zone"

    page.keyboard.press("Escape")
    page.locator(".field.current .name").click()
    page.keyboard.press("v")
    assert focused(page) == "#viewer"
    page.keyboard.press("+")
    page.keyboard.press("+")
    # The zoomed page is laid out before the keys are tried (on a loaded machine it may lag).
    page.wait_for_function("() => { const v = document.getElementById('viewer');"
                           " return v.scrollHeight > v.scrollTop + v.clientHeight + 40; }")
    before = page.evaluate("document.getElementById('viewer').scrollTop")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => document.getElementById('viewer').scrollTop > {before}", timeout=5000)
    assert page.evaluate("document.getElementById('viewer').scrollTop") > before
    assert focused(page) == "#viewer"  # the arrows scrolled the page, they did not move the field


SIZES = ((1366, 768), (1920, 1080))


def _failed_and_processing_documents():
    from datetime import timedelta

    from django.utils import timezone

    from docproc.models import Document

    def make(name, **kw):
        return Document.objects.create(doc_type="claim", original_name=name, sha256=name.ljust(64, "0")[:64], size=1,
                                       content_type="application/pdf", **kw)

    failed = make("scan-encrypted.pdf", status=DocumentStatus.FAILED, error_code="pdf_encrypted",
                  error_detail="The PDF is encrypted; send it without a password.")
    busy = make("batch-17.pdf", status=DocumentStatus.PROCESSING, stage="ocr", attempts=1)
    stuck = make("batch-03.pdf", status=DocumentStatus.PROCESSING, stage="extract", attempts=2)
    Document.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=2),
                                                created_at=timezone.now() - timedelta(hours=3))
    return failed, busy, stuck


def test_every_page_passes_axe_at_both_sizes_with_screenshots(browser, live_server, make_user, review_doc):
    """Every staff page (and the sign-in, 403 and 404 pages), at 1366x768 and 1920x1080: no
    serious or critical axe-core violation, and a screenshot of each under test-artifacts/pages/.
    The 403 and 404 pages use the site's layout with a way back; the audit log links to the queue
    and the dashboard; supervisors see what is processing and what failed, and the dashboard counts them."""
    from docproc.audit.models import AuditEvent

    doc = review_doc(seed=12)
    _failed_and_processing_documents()
    sue = make_user("supervisor", "sue")
    out = ARTIFACTS / "pages"
    out.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
        context.set_default_timeout(15000)
        page = context.new_page()

        def check(name: str, full_page: bool = True, page=page, width=width, height=height) -> None:
            page.screenshot(path=str(out / f"{name}-{width}x{height}.png"), full_page=full_page)
            assert_accessible(page, f"{name} at {width}x{height}")

        page.goto("/review/")
        if width == SIZES[0][0]:  # the check itself can fail: a low-contrast text is found
            page.evaluate("""() => { const p = document.createElement('p'); p.id = 'faint';
                p.style.color = '#bbb'; p.textContent = 'faint text'; document.querySelector('main').appendChild(p); }""")
            assert [v["id"] for v in axe_violations(page)] == ["color-contrast"]
            page.reload()
        check("sign-in")
        sign_in_here(page, sue)
        check("queue")
        page.goto("/review/dashboard/")
        assert page.inner_text("#processing-count") == "2" and page.inner_text("#failed-count") == "1"
        check("dashboard")
        page.click("#processing-count a")
        page.wait_for_selector("#work-processing")
        rows = page.locator("#work-processing tbody tr")
        assert rows.count() == 2
        assert "batch-03.pdf" in rows.nth(0).inner_text() and "stuck" in rows.nth(0).inner_text()  # the oldest first
        assert "extract" in rows.nth(0).inner_text() and "ocr" in rows.nth(1).inner_text()
        check("processing")
        page.click("text=Failed, last 14 days")
        page.wait_for_selector("#work-failed")
        assert "pdf_encrypted" in page.inner_text("#work-failed")
        check("failed")
        page.goto("/review/profile/")
        check("profile")
        page.goto(f"/review/documents/{doc.pk}/")
        check("document")
        page.goto("/audit/")
        assert page.locator("h1").count() == 1
        assert page.get_by_role("link", name="Review queue").count() == 1
        assert page.get_by_role("link", name="Dashboard").count() == 1
        check("audit-list")
        page.goto(f"/audit/events/{AuditEvent.objects.order_by('seq').first().seq}/")
        check("audit-event")
        page.goto("/review/documents/00000000-0000-0000-0000-000000000000/")
        assert "Not found" in page.inner_text("h1") and page.get_by_role("link", name="Review queue").count() == 1
        check("error-404")
        if width == SIZES[0][0]:
            page.goto("/review/")
            page.keyboard.press("n")
            page.wait_for_url(f"**/review/doc/{doc.pk}/")
        else:
            page.goto(f"/review/doc/{doc.pk}/")
        page.wait_for_selector("#lock-state")
        check("review", full_page=False)
        pane = page.evaluate("""() => { const p = document.querySelector('.fields-pane');
                                        return [p.scrollHeight, p.clientHeight]; }""")
        if (width, height) == (1920, 1080):
            assert pane[0] <= pane[1], f"the claim's fields need {pane[0]} px in a {pane[1]} px pane"
        page.keyboard.press("?")
        check("review-shortcuts", full_page=False)
        page.keyboard.press("Escape")
        context.close()

    # A reviewer on a supervisor's page: the 403 in the site's layout, with a way back.
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=live_server.url)
    page = context.new_page()
    sign_in_here(page, make_user("reviewer", "ana"))
    page.goto("/review/work/", referer=f"{live_server.url}/review/dashboard/")
    assert "Not allowed" in page.inner_text("h1")
    assert page.get_by_role("link", name="Back to the previous page").get_attribute("href") == "/review/dashboard/"
    page.screenshot(path=str(out / "error-403-1366x768.png"))
    assert_accessible(page, "403")
    context.close()


def sign_in_here(page, user) -> None:
    if "/accounts/login/" not in page.url:
        page.goto("/review/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", f"pw-{user.username}-secret")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^[^?]*/review/$"))


def test_times_follow_the_users_time_zone(browser, live_server, make_user, review_doc):
    """The browser's zone by default, the profile's once set, and the zone named beside the times."""
    from django.utils import timezone

    doc = review_doc(seed=13, sla_deadline=timezone.now())
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=live_server.url,
                                  timezone_id="America/New_York")
    page = context.new_page()
    sign_in_here(page, make_user("reviewer", "ana"))
    assert page.inner_text("#time-zone") == "times in America/New_York"
    ny = timezone.localtime(doc.sla_deadline, timezone=__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert ny.strftime("%Y-%m-%d %H:%M") in page.inner_text("table.queue")
    page.click("#time-zone")
    page.select_option("#id_time_zone", "Asia/Tokyo")
    page.click("text=Save")
    page.wait_for_selector(".msg.success")
    assert page.inner_text("#time-zone") == "times in Asia/Tokyo"
    page.goto("/review/")
    tokyo = timezone.localtime(doc.sla_deadline, timezone=__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert tokyo.strftime("%Y-%m-%d %H:%M") in page.inner_text("table.queue")
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    page.locator("#lock-state", has_text="until").wait_for()
    assert re.fullmatch(r"Held by you until \d\d:\d\d:\d\d Asia/Tokyo", page.inner_text("#lock-state"))
    page.goto("/review/profile/")
    page.select_option("#id_time_zone", "")  # back to the browser's
    page.click("text=Save")
    page.wait_for_selector(".msg.success")
    assert page.inner_text("#time-zone") == "times in America/New_York"
    context.close()


def test_zoom_fits_page_or_width_and_is_remembered_per_document_type(page, make_user, review_doc):
    doc = review_doc(seed=14)
    following = review_doc(seed=15)
    sign_in(page, make_user("reviewer", "ana"))
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    assert page.inner_text("#zoom-level") == "Fit width"
    page.keyboard.press("0")
    assert page.inner_text("#zoom-level") == "Fit page"
    whole = page.evaluate("""() => { const v = document.getElementById('viewer').getBoundingClientRect();
                                     const p = document.querySelector('.page.active').getBoundingClientRect();
                                     return p.height <= v.height && p.width < v.width; }""")
    assert whole
    page.keyboard.press("p")  # postpone: the next claim opens
    page.wait_for_url(f"**/review/doc/{following.pk}/")
    assert page.inner_text("#zoom-level") == "Fit page"  # remembered for claims
    page.keyboard.press("w")
    assert page.inner_text("#zoom-level") == "Fit width"
    assert page.evaluate("document.querySelector('.page.active').getBoundingClientRect().width") > \
        page.evaluate("document.getElementById('viewer').clientWidth") - 40



def test_saved_filters_count_and_the_queue_refreshes_itself(page, make_user, review_doc):
    review_doc(seed=16)
    review_doc(seed=17)
    sign_in(page, make_user("reviewer", "ana"))
    page.select_option("select[name=doc_type]", "claim")
    page.fill("#filter-name", "claims")
    page.click("#save-filter")
    page.locator("#saved-filter-list .count", has_text="2").wait_for()
    assert page.get_attribute("#saved-filter-list a", "href") == "?doc_type=claim&scope=open"
    page.reload()  # kept in this browser
    page.locator("#saved-filter-list .count", has_text="2").wait_for()
    review_doc(seed=18, name="claim-arrived.pdf")
    page.locator("body").click(position={"x": 5, "y": 300})  # nothing in the list has the keyboard
    assert page.evaluate("window.docprocQueueRefresh()") is True
    assert page.inner_text("#stat-total") == "3" and "claim-arrived.pdf" in page.inner_text("table.queue")
    assert page.inner_text("#saved-filter-list .count") == "3"
    assert "Refreshed at" in page.inner_text("#refresh-note")


def test_report_a_problem_escalates_with_the_page_and_field_and_my_stats_count(page, make_user, review_doc):
    doc = review_doc(seed=19)
    following = review_doc(seed=20)
    sign_in(page, make_user("reviewer", "ana"))
    # A field failing a check asks to confirm it as printed. The page fixture answers every
    # dialog (dismissing by default); a second handler here would race with that dismiss.
    page.accept_dialogs = True
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/doc/{doc.pk}/")
    name = page.get_attribute(".field.current", "data-name")
    page.keyboard.press("!")
    assert page.is_visible("#problem-dialog")
    assert page.inner_text("#problem-where") == f"page 1, field {name}"
    page.fill("#problem-note", "the stamp covers the date")
    page.click("#problem-form button[type=submit]")
    page.wait_for_url(f"**/review/doc/{following.pk}/")
    task = ReviewTask.objects.get(document=doc)
    assert task.escalated and task.escalation_note == f"Problem report (page 1, field {name}): the stamp covers the date"
    page.keyboard.press("Shift+A")
    page.wait_for_selector(".msg.success")
    for left in range(int(page.get_attribute("#pending-count", "data-count")) - 1, -1, -1):
        page.keyboard.press("a")
        page.locator(f"#pending-count[data-count='{left}']").wait_for()
    assert any("Keep it as printed" in m for m in page.dialogs)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".msg.success")
    page.goto("/review/dashboard/")
    assert page.inner_text("#my-documents") == "1"
    assert page.inner_text("#my-median").endswith(" s")
    assert int(page.inner_text("#my-decisions")) >= 1 and page.inner_text("#my-corrections") == "0"


def test_a_supervisor_assigns_a_selection_and_raises_its_priority(page, make_user, review_doc):
    first, second, third = review_doc(seed=22), review_doc(seed=23), review_doc(seed=24)
    bob = make_user("reviewer", "bob")
    sign_in(page, make_user("supervisor", "sue"))
    for doc in (second, third):
        page.check(f"input[name=task][value='{doc.pk}']")
    page.fill("#bulk-form input[name=priority]", "20")
    page.click("#bulk-form button[value=priority]")
    page.locator(".msg.success", has_text="Set priority 20 on 2.").wait_for()
    assert {t.document_id: t.priority for t in ReviewTask.objects.all()} == {first.pk: 0, second.pk: 20, third.pk: 20}
    assert first.original_name in page.inner_text("table.queue tbody tr:nth-child(3)")  # the raised two come first
    page.check(f"input[name=task][value='{first.pk}']")
    page.check(f"input[name=task][value='{third.pk}']")
    page.select_option("#bulk-form select[name=to_user]", label="bob")
    page.click("#bulk-form button[value=assign]")
    page.locator(".msg.success", has_text="Assigned 2 to bob.").wait_for()
    held = {t.document_id: t.assignee for t in ReviewTask.objects.select_related("assignee")}
    assert held == {first.pk: bob, second.pk: None, third.pk: bob}
    from docproc.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="review.prioritised").count() == 2
    page.click("#bulk-form button[value=assign]")  # nothing selected
    page.locator(".msg.error", has_text="Select at least one document").wait_for()


def test_a_supervisor_retries_a_failed_document_and_it_leaves_the_failed_list(page, make_user):
    """On the failed list, Retry sends the document through processing again (queued on the real
    broker): a message says so, the row and the failed count are gone, a bad file offers no Retry."""
    import redis
    from django.conf import settings
    from django.core.files.base import ContentFile

    from docproc.models import Document

    from ..conftest import redis_available

    if not redis_available():
        pytest.skip("Redis is not reachable at REDIS_URL")

    def failed(name: str, code: str) -> Document:
        doc = Document(doc_type="claim", original_name=name, sha256=name.ljust(64, "0")[:64], size=9,
                       content_type="application/pdf", status=DocumentStatus.FAILED, error_code=code)
        doc.file.save("original", ContentFile(b"%PDF-1.7\n"), save=False)
        doc.save()
        return doc

    late = failed("late.pdf", "processing_timeout")
    failed("broken.pdf", "corrupt_pdf")
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = broker.llen("cpu")
    sign_in(page, make_user("supervisor", "sue"))
    page.goto("/review/work/?view=failed")
    assert page.inner_text("#count-failed") == "2"
    broken_row = page.locator("#work-failed tbody tr", has_text="broken.pdf")
    assert broken_row.get_by_role("button").count() == 0 and "bad file" in broken_row.inner_text()
    try:
        page.get_by_role("button", name="Retry late.pdf").click()
        page.wait_for_selector("text=“late.pdf” was queued for processing again.")
        assert "late.pdf" not in page.inner_text("#work-failed") and "broken.pdf" in page.inner_text("#work-failed")
        assert page.inner_text("#count-failed") == "1"
        late.refresh_from_db()
        assert late.status == DocumentStatus.RECEIVED and late.attempts == 0 and late.error_code == ""
        assert broker.llen("cpu") == before + 1  # its ingest is waiting for a worker
        assert_accessible(page, "work-failed-after-retry")
    finally:
        while broker.llen("cpu") > before:
            broker.rpop("cpu")
