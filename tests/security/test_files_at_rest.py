"""Files at rest: the LLM answer cache is per client, 0600, purged with the document, and off by
default outside development."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from docproc.pipeline.extract.llm import ResultCache, answer_scope

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_answers_are_kept_per_client_and_private(tmp_path):
    tmp_path = tmp_path / "cache"  # tmp_path also holds the test's media folder
    key = ResultCache.key("Claimant: Jane Roe", "schema", "claim-v4", "model", "llamacpp")
    old = os.umask(0o022)  # the most permissive umask a careless start could have
    try:
        token = answer_scope.set(("client-1", "doc-a"))
        ResultCache(tmp_path).put(key, {"answer": {"claimant_name": "Jane Roe"}, "probs": {}})
        answer_scope.reset(token)
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(_mode(p) == 0o600 for p in files)
    assert all(_mode(p) & 0o077 == 0 for p in tmp_path.rglob("*") if p.is_dir() and p != tmp_path)

    token = answer_scope.set(("client-1", "doc-b"))
    try:
        assert ResultCache(tmp_path).get(key)["answer"] == {"claimant_name": "Jane Roe"}
    finally:
        answer_scope.reset(token)
    token = answer_scope.set(("client-2", "doc-c"))  # the same text from another client: no answer
    try:
        assert ResultCache(tmp_path).get(key) is None
    finally:
        answer_scope.reset(token)


def test_purging_a_document_removes_its_cached_answers(tmp_path):
    keys = [ResultCache.key(f"page {i}", "schema", "claim-v4", "model", "llamacpp") for i in range(3)]
    cache = ResultCache(tmp_path)
    token = answer_scope.set(("client-7", "doc-1"))
    for k in keys[:2]:
        cache.put(k, {"answer": {}, "probs": {}})
    answer_scope.reset(token)
    token = answer_scope.set(("client-7", "doc-2"))
    cache.put(keys[2], {"answer": {}, "probs": {}})
    answer_scope.reset(token)
    assert ResultCache.purge_document(tmp_path, client="client-7", document="doc-1") == 2
    left = sorted(p.stem for p in tmp_path.rglob("*.json"))
    assert left == [keys[2]]


@pytest.mark.django_db
def test_retention_purge_removes_the_documents_cached_answers(tmp_path, settings, make_api_client):
    from docproc.models import Document, DocumentStatus
    from docproc.pipeline.extract.llm import client_scope
    from docproc.services import document_purge

    settings.DOCPROC_LLM_CACHE_DIR = str(tmp_path)
    client, _ = make_api_client("kept-briefly", retention_days=1)
    doc = Document.objects.create(client=client, doc_type="claim", status=DocumentStatus.DELIVERED,
                                  original_name="c.pdf", sha256="0" * 64, size=1)
    key = ResultCache.key("text", "schema", "claim-v4", "model", "llamacpp")
    token = answer_scope.set((client_scope(client.pk), str(doc.pk)))
    ResultCache(tmp_path).put(key, {"answer": {"claimant_name": "Jane Roe"}, "probs": {}})
    answer_scope.reset(token)
    assert list(tmp_path.rglob("*.json"))
    document_purge(document_id=doc.pk)
    assert not list(tmp_path.rglob("*.json"))


def test_the_disk_cache_is_off_unless_debug(tmp_path):
    code = "from django.conf import settings; print(repr(settings.DOCPROC_LLM_CACHE_DIR))"
    base = {k: v for k, v in os.environ.items() if k not in ("DOCPROC_LLM_CACHE_DIR", "DOCPROC_DEBUG")}
    base.update(DJANGO_SETTINGS_MODULE="docproc.settings", DOCPROC_DATA_DIR=str(tmp_path))
    run = lambda **env: subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=ROOT,  # noqa: E731
                                      env={**base, **env}, capture_output=True, text=True, timeout=60).stdout.strip()
    assert run() == "''"
    assert run(DOCPROC_DEBUG="1") == repr(str(tmp_path / "llm-cache"))
