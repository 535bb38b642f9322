"""The API docs page renders in Debian's Chromium under the project's Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def test_api_docs_render_without_console_errors(live_server, monkeypatch):
    """Given the docs page, when Chromium loads it, then Swagger UI draws the operations from the
    schema and the console shows no error (a CSP refusal of an inline script is one)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            answer = page.goto(f"{live_server.url}/api/v1/docs/")
            assert answer is not None and answer.status == 200
            assert "script-src 'self'" in answer.headers["content-security-policy"]
            page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
            assert "docproc API" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector("text=/api/v1/documents/", timeout=20000)
        finally:
            browser.close()
    assert errors == []
