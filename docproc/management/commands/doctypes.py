"""``manage.py doctypes list`` and ``manage.py doctypes check FILE...``.

``list`` shows the document types this installation knows (the shipped ones and those in
``DOCPROC_DOCTYPES_DIR``) with the file each came from. ``check`` loads files the way start-up
does and prints each mistake as ``FILE:LINE: what is wrong``; it exits non-zero when one fails,
so a file can be checked before it is dropped into the folder.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from docproc.doctypes import DOC_TYPES, DocTypeError, load_file


class Command(BaseCommand):
    help = "List the document types, or check document type files (exit status 1 when one is invalid)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="the known document types and where each comes from")
        check = sub.add_parser("check", help="check YAML document type files")
        check.add_argument("files", nargs="+", type=Path)

    def handle(self, *args, action: str, **opts):
        if action == "list":
            self._list()
        else:
            self._check(opts["files"])

    def _list(self) -> None:
        self.stdout.write(f"document types (user folder: {settings.DOCPROC_DOCTYPES_DIR})")
        for name in sorted(DOC_TYPES):
            doctype = DOC_TYPES[name]
            checks = f", {len(doctype.checks)} cross-field checks" if doctype.checks else ""
            template = f", template {doctype.template}" if doctype.template else ""
            self.stdout.write(f"{name:<16} {doctype.title} ({len(doctype.fields)} fields{checks}{template}, "
                              f"{doctype.date_order}) {doctype.source}")

    def _check(self, files: list[Path]) -> None:
        failed = 0
        for path in files:
            try:
                doctype = load_file(path)
            except DocTypeError as exc:
                failed += 1
                self.stderr.write(str(exc))
                continue
            clash = DOC_TYPES.get(doctype.name)
            if clash is not None and Path(clash.source).resolve() != path.resolve():
                failed += 1
                self.stderr.write(f"{path}:1: document type {doctype.name!r} is already defined by {clash.source}; "
                                  "give this one another name")
                continue
            self.stdout.write(f"{path}: ok: {doctype.name} ({len(doctype.fields)} fields)")
        if failed:
            raise CommandError(f"{failed} of {len(files)} document type files are invalid")
