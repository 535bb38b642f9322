"""Registry of document types: the shipped ``docproc/doctypes/*.yaml`` and the user's own in
``DOCPROC_DOCTYPES_DIR``. Field names are part of the API and of the benchmarks.

The registry is filled once per process (``configure``, called when Django starts, or on first
use with the shipped types alone); a new or changed file takes effect when the web and worker
processes restart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from .loader import SHIPPED_DIR, DocTypeError, load_file, load_types, parse_doctype
from .schema import Check, DocType, FieldSpec, ItemsSum, NotAfter, Vocabulary


class UnknownDocType(KeyError):
    pass


class _Registry(Mapping[str, DocType]):
    """Name -> DocType, loaded on first use."""

    def __init__(self) -> None:
        self._types: dict[str, DocType] | None = None
        self.user_dir: Path | None = None

    def configure(self, user_dir: Path | str | None) -> None:
        """(Re)load the shipped types and those in ``user_dir``; raises ``DocTypeError``, which
        names the file and line, and then keeps what was loaded before."""
        folder = Path(user_dir) if user_dir else None
        types = load_types([SHIPPED_DIR, *([folder] if folder and folder.resolve() != SHIPPED_DIR else [])])
        self._types, self.user_dir = types, folder

    def _loaded(self) -> dict[str, DocType]:
        if self._types is None:
            self.configure(self.user_dir)
        assert self._types is not None
        return self._types

    def __getitem__(self, name: str) -> DocType:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


DOC_TYPES = _Registry()


def configure(user_dir: Path | str | None) -> None:
    DOC_TYPES.configure(user_dir)


def get_doctype(name: str) -> DocType:
    try:
        return DOC_TYPES[name]
    except KeyError:
        raise UnknownDocType(f"unknown document type {name!r}; known: {', '.join(sorted(DOC_TYPES))}") from None


__all__ = ["DOC_TYPES", "Check", "DocType", "DocTypeError", "FieldSpec", "ItemsSum", "NotAfter", "UnknownDocType",
           "Vocabulary", "configure", "get_doctype", "load_file", "parse_doctype"]
