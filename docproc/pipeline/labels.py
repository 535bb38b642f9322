"""A label is never a value: printed label text copied into a field is refused.

An extractor that finds no value in a box may copy the box's printed label instead ("28. TOTAL
CHARGE" for the total charge, "Police Report No." for the type of loss), and a model's belief in
such a copy can be as high as in a real value. Label text comes from three places:

- the document type: every field's labels (so another field's label is refused too);
- the form template, when the type has one: the words printed on the blank form;
- the page: the words that start a line up to a colon ("Police Report No.: ____").

A value *is* a label when it reads as one of those phrases, or when nearly all of its letters
and digits are in label words and at least one of those is a real word (three letters or more):
"28. TOTAL CHARGE" is, "2137 ELM STREET" is not (one label word in three). Pure: no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from docproc.doctypes import DocType

from .types import DocumentText
from .validate import fold_accents

LABEL_MESSAGE = "this is the form's label, not a value"
# Share of a value's letters and digits that must lie in label words for it to be a label.
MOSTLY = 0.75

_TOKEN = re.compile(r"[0-9a-z]+")
# A line that starts with up to six words and a colon: those words are the line's label. Text
# between two colons of one line is not taken (it may hold the previous label's value).
_LINE_LABEL = re.compile(r"^\s*([^:]{2,60}?)\s*:")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold_accents(text).casefold())


def _squash(text: str) -> str:
    return "".join(_tokens(text))


@dataclass(frozen=True, slots=True)
class LabelText:
    """The label words and phrases one document is checked against."""

    words: frozenset[str]
    phrases: frozenset[str]

    def is_label(self, value: Any) -> bool:
        if value is None or isinstance(value, (list, dict)):
            return False
        tokens = _tokens(str(value))
        if not tokens:
            return False
        if "".join(tokens) in self.phrases:
            return True
        in_labels = [t for t in tokens if t in self.words]
        if not any(sum(ch.isalpha() for ch in t) >= 3 for t in in_labels):
            return False
        return sum(map(len, in_labels)) >= MOSTLY * sum(map(len, tokens))


def _doctype_labels(doctype: DocType) -> list[str]:
    labels: list[str] = []
    for spec in doctype.fields:
        labels.extend(spec.labels)
        for sub in spec.item_fields:
            labels.extend(sub.labels)
    return labels


def _page_labels(document: DocumentText) -> list[str]:
    """The words a line starts with before a colon: the page's own labels."""
    lines: dict[tuple[int, int, int], list[tuple[float, str]]] = {}
    for page in document.pages:
        for w in page.words:
            if w.source != "form_field":
                lines.setdefault((page.page, w.block, w.line), []).append((w.bbox[0], w.text))
    found: list[str] = []
    for words in lines.values():
        text = " ".join(t for _, t in sorted(words))
        match = _LINE_LABEL.match(text)
        if match and len(_tokens(match.group(1))) <= 6:
            found.append(match.group(1))
    return found


def label_text(doctype: DocType, document: DocumentText | None, template_labels: tuple[str, ...] = ()) -> LabelText:
    """The label vocabulary of ``doctype`` (all its fields), its form template's printed words
    (``template_labels``) and the page labels of ``document``."""
    phrases = [*_doctype_labels(doctype), *(_page_labels(document) if document is not None else [])]
    words = {t for p in phrases for t in _tokens(p)} | {t for lab in template_labels for t in _tokens(lab)}
    return LabelText(words=frozenset(words), phrases=frozenset(s for p in phrases if (s := _squash(p))))
