"""Documents' files (originals, page previews) through Django's storage API only.

The web app and the workers share no folder: with ``DOCPROC_STORAGE=s3`` the files live in an
S3-compatible bucket (django-storages), with the default ``local`` under MEDIA_ROOT. Nothing here
or in its callers asks a storage for a local path (``FieldFile.path``): code that needs a file on
disk (the PDF reader, the renderer) gets a temporary copy that is removed when it is done.

Names are the storage's (``documents/ab/<id>/original``, ``pages/<id>/page-1.png``), the same
whichever backend holds them, so switching backends is copying the files over."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from botocore.exceptions import ConnectionError as S3ConnectionError
from botocore.exceptions import HTTPClientError
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.db.models.fields.files import FieldFile

# A storage server that cannot be reached (refused, timed out, connection dropped) after boto3's own
# retries: a task meeting one is retried later rather than failing its document.
STORAGE_UNAVAILABLE: tuple[type[Exception], ...] = (S3ConnectionError, HTTPClientError)


_swept_at = 0.0
SWEEP_EVERY_SECONDS = 600


def scratch_dir() -> Path:
    """The local folder for short-lived copies: an upload being received, a worker's copy of an
    original. Each copy is removed after use; with ``s3`` nothing else is written under MEDIA_ROOT.
    Every few minutes, copies a killed process left behind are swept (``scratch_sweep``)."""
    global _swept_at
    path = Path(settings.MEDIA_ROOT) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    if time.monotonic() - _swept_at > SWEEP_EVERY_SECONDS:
        _swept_at = time.monotonic()
        scratch_sweep(path)
    return path


def scratch_sweep(path: Path, *, now: float | None = None) -> int:
    """Remove what a process killed in the middle of a task or an upload left in the scratch
    folder (a ``finally`` that never ran): entries older than twice the task time limit, which no
    live task or upload still uses. A purged document must not survive as a stray copy on a
    worker's disk. Returns how many entries were removed."""
    cutoff = (now or time.time()) - 2 * settings.DOCPROC_TASK_TIME_LIMIT
    removed = 0
    for entry in path.iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except FileNotFoundError:
            continue  # its own process removed it meanwhile
    return removed


def _storage_and_name(file: FieldFile | str, storage: Storage | None) -> tuple[Storage, str]:
    if isinstance(file, FieldFile):
        return storage or file.storage, file.name or ""
    return storage or default_storage, file


@contextlib.contextmanager
def local_copy(file: FieldFile | str, *, storage: Storage | None = None) -> Iterator[Path]:
    """A temporary local copy of a stored file (a FileField's file, or a name in the default
    storage), removed with its folder when the block ends, however it ends. Raises
    FileNotFoundError when the storage holds no such file."""
    store, name = _storage_and_name(file, storage)
    if not name:
        raise FileNotFoundError("no file is stored for this document")
    folder = Path(tempfile.mkdtemp(prefix="copy-", dir=scratch_dir()))  # 0700: only this user reads it
    try:
        target = folder / (PurePosixPath(name).name or "file")
        with store.open(name, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def file_exists(name: str, *, storage: Storage | None = None) -> bool:
    """Whether the storage holds ``name``; a name that would leave the storage's root is not held."""
    if not name:
        return False
    try:
        return (storage or default_storage).exists(name)
    except SuspiciousOperation:
        return False


def file_write(name: str, content: bytes, *, storage: Storage | None = None) -> str:
    """Store ``content`` under ``name``, replacing what was there (a re-run's page preview keeps its
    name, on a local folder as in a bucket). Returns the name it was stored under."""
    store = storage or default_storage
    if store.exists(name):
        store.delete(name)
    return store.save(name, ContentFile(content))


def file_read(name: str, *, storage: Storage | None = None) -> bytes:
    with (storage or default_storage).open(name, "rb") as fh:
        return fh.read()


def file_delete(name: str, *, storage: Storage | None = None) -> bool:
    """Delete one stored file; True when there was one. A name outside the storage is left alone."""
    store = storage or default_storage
    if not file_exists(name, storage=store):
        return False
    store.delete(name)
    return True


def folder_delete(prefix: str, *, storage: Storage | None = None) -> int:
    """Delete every file under the folder ``prefix`` (recursively), then the folder itself where the
    storage has folders (a local disk; a bucket has only keys). Returns how many files went."""
    store = storage or default_storage
    prefix = prefix.strip("/")
    try:
        folders, files = store.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError, SuspiciousOperation):
        return 0
    deleted = 0
    for name in files:
        store.delete(f"{prefix}/{name}")
        deleted += 1
    for folder in folders:
        deleted += folder_delete(f"{prefix}/{folder}", storage=store)
    if isinstance(store, FileSystemStorage):  # a bucket has only keys: no folder is left behind
        with contextlib.suppress(OSError):
            store.delete(prefix)  # removes the emptied folder
    return deleted
