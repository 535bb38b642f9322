"""The review queue's filters, parsed by a form: a bad value is a message and a 400, never a 500."""

from __future__ import annotations

from django import forms

from docproc.doctypes import DOC_TYPES

from .selectors import AGE_FILTERS


class QueueFilterForm(forms.Form):
    doc_type = forms.CharField(required=False, max_length=60)
    client = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                error_messages={"invalid": "client must be an API client's number"})
    older_than = forms.ChoiceField(required=False, choices=[("", "")] + [(k, k) for k in AGE_FILTERS])
    scope = forms.CharField(required=False, max_length=20)

    def clean_doc_type(self) -> str:
        value = self.cleaned_data["doc_type"]
        if value and value not in DOC_TYPES:
            raise forms.ValidationError(f"unknown document type; known: {', '.join(sorted(DOC_TYPES))}")
        return value

    def filters(self) -> dict[str, str]:
        """The valid filters as the queue selector takes them ("" for the ones left out or invalid)."""
        clean = getattr(self, "cleaned_data", {})
        return {name: "" if clean.get(name) in (None, "") else str(clean[name]) for name in self.fields}

    def problems(self) -> str:
        return "; ".join(f"{name}: {' '.join(errors)}" for name, errors in self.errors.items())
