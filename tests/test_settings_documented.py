"""Every DOCPROC_ setting the product reads is defined in docproc/settings.py (from the
environment) and has a row in the README's settings table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = re.compile(r"\bDOCPROC_[A-Z0-9_]*[A-Z0-9]\b")


def _product_files() -> list[Path]:
    files = [p for pkg in ("docproc", "reviewer", "workers") for p in (ROOT / pkg).rglob("*.py")]
    # scripts/ take launcher variables (extras to install, ports), documented where the README
    # says how to run it; they are not settings of the application.
    return [*files, ROOT / "docker-compose.yml", ROOT / "Dockerfile"]


def _settings_table() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in NAME.findall(row.split(" | ")[0])}


def test_every_setting_is_read_in_settings_py_and_documented():
    used = {name for path in _product_files() if path.is_file() for name in NAME.findall(path.read_text())}
    settings_src = (ROOT / "docproc" / "settings.py").read_text()
    from_env = set(re.findall(r'env(?:_bool|_int|_float)?\(\s*"(DOCPROC_[A-Z0-9_]+)"', settings_src))
    assert used, "no settings found: the scan is broken"
    assert sorted(used - from_env) == [], "read but not defined from the environment in docproc/settings.py"
    assert sorted(from_env - _settings_table()) == [], "defined in settings.py but missing from the README's table"
