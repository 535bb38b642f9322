"""Typed options of the LLM backends. docproc/engines.py builds them from the Django settings;
below pipeline/ nothing reads a setting by name, and a test builds exactly the options it means."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"


@dataclass(frozen=True, slots=True)
class ModelFile:
    """Which GGUF file to run: ``gguf`` (any file) when set, else the known model ``name``
    installed under ``models_dir`` by ``manage.py models install``."""

    name: str = DEFAULT_MODEL
    gguf: Path | None = None
    models_dir: Path = Path("data/models")


@dataclass(frozen=True, slots=True)
class LlmOptions:
    """What every LLM backend takes. ``cache_dir``: where answers are kept so that every worker
    and a re-run share them (None: in memory only). Prices are per million tokens, for the
    cost estimate stored with each model call. ``call_seconds``: the deadline of one model call,
    after which the backend stops generating; ``document_seconds``: what all the calls of one
    document may take together (kept well inside the task's soft time limit)."""

    cache_dir: Path | None = None
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    max_tokens: int = 512
    call_seconds: float = 120.0
    document_seconds: float = 450.0
    # Prompt tokens (estimated) the worked examples of vendor memory may take; 0: none.
    example_tokens: int = 1200
    # The document text one call may show when only the fields still open are asked (``focus``).
    prompt_budget_tokens: int = 400


def _default_threads() -> int:
    return min(4, os.cpu_count() or 1)  # more threads than cores slows llama.cpp down


@dataclass(frozen=True, slots=True)
class LlamaCppOptions(LlmOptions):
    model: ModelFile = ModelFile()
    context_tokens: int = 4096
    threads: int = field(default_factory=_default_threads)
    gpu_layers: int = 0


@dataclass(frozen=True, slots=True)
class TransformersOptions(LlmOptions):
    """``model_dir``: a transformers model folder; without one the GGUF of ``model`` is loaded."""

    model: ModelFile = ModelFile()
    model_dir: Path | None = None
    device: str = "cpu"
    threads: int = 0  # 0: torch's default


@dataclass(frozen=True, slots=True)
class OpenAIOptions(LlmOptions):
    base_url: str = ""
    model: str = ""
    api_key: str = ""
    timeout: float = 60.0
    retries: int = 2
