"""axe-core in the browser tests: the rules a page must pass, injected by Playwright.

axe-core comes from the npm registry (scripts/install puts it in .node/ with the dev extra);
DOCPROC_AXE_JS names another copy. It is evaluated through the DevTools protocol, which the
page's Content-Security-Policy does not govern, so the policy stays as served."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / ".node" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def axe_source() -> str | None:
    path = Path(os.environ.get("DOCPROC_AXE_JS") or DEFAULT)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def axe_violations(page) -> list[dict]:
    """axe's serious and critical violations on the page as it is now (WCAG 2 A/AA and best practice)."""
    source = axe_source()
    if source is None:
        pytest.skip("axe-core is not installed (scripts/install with the dev extra, or DOCPROC_AXE_JS)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations'],
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}));
    }""")
    return [v for v in result if v["impact"] in BLOCKING]


def assert_accessible(page, name: str) -> None:
    found = axe_violations(page)
    assert not found, f"{name}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][:3]}" for v in found)
