"""Declarative document types: the fields each type has and how they are checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal["text", "name", "address", "date", "amount", "phone", "email", "code", "currency", "list"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType = "text"
    required: bool = True
    # Named checks from docproc.pipeline.validate (e.g. "npi", "icd10", "zip", "ein").
    validators: tuple[str, ...] = ()
    # Confidence at or above which the field is accepted without a person.
    review_threshold: float = 0.9
    # Printed labels that anchor the field on a form (rules extractor, grounding hints).
    labels: tuple[str, ...] = ()
    description: str = ""
    # For "list" fields: the item's sub-fields.
    item_fields: tuple[FieldSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class DocType:
    name: str
    title: str
    fields: tuple[FieldSpec, ...]
    description: str = ""
    # Cross-field checks by name, from docproc.pipeline.validate.
    cross_checks: tuple[str, ...] = field(default_factory=tuple)
    # Name of a form template (docproc/doctypes/templates/NAME.json) read before the extractor:
    # a document that registers to it takes those fields from where the form prints them.
    template: str = ""

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)
