from __future__ import annotations

from rest_framework import serializers

from docproc.doctypes import DOC_TYPES
from docproc.models import Document, DocumentStatus


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    doc_type = serializers.ChoiceField(choices=())
    external_ref = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The registry's types, read when the serializer is made: a module constant would miss
        # the types of DOCPROC_DOCTYPES_DIR loaded when Django started.
        self.fields["doc_type"].choices = sorted(DOC_TYPES)


class ErrorSerializer(serializers.Serializer):
    """Every error answer: a stable ``code`` and a human ``detail``."""

    code = serializers.CharField()
    detail = serializers.CharField()


class DocumentSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = ["id", "external_ref", "doc_type", "status", "stage", "original_name", "content_type", "size",
                  "page_count", "sha256", "duplicate_of", "error", "created_at", "updated_at", "finished_at", "links"]

    def get_error(self, obj) -> dict | None:
        return {"code": obj.error_code, "detail": obj.error_detail} if obj.error_code else None

    def get_links(self, obj) -> dict:
        return {"self": f"/api/v1/documents/{obj.id}/", "result": f"/api/v1/documents/{obj.id}/result/"}


MAX_PAGE_LIMIT = 200


class DocumentFilterSerializer(serializers.Serializer):
    """The query parameters of ``GET /api/v1/documents/``: a bad value is a 400 ``invalid_filter``
    naming the parameter, never ignored."""

    status = serializers.CharField(required=False, max_length=200)
    doc_type = serializers.ChoiceField(choices=(), required=False)
    external_ref = serializers.CharField(required=False, max_length=200)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_LIMIT)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=10_000_000)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The loaded types, user types included (loaded at start-up, after this module).
        self.fields["doc_type"].choices = sorted(DOC_TYPES)

    def validate_status(self, value: str) -> list[str]:
        wanted = [s.strip() for s in value.split(",") if s.strip()]
        unknown = sorted(set(wanted) - set(DocumentStatus.values))
        if unknown:
            raise serializers.ValidationError(f"unknown status {', '.join(unknown)}; known: {', '.join(DocumentStatus.values)}")
        return wanted


class ReprocessSerializer(serializers.Serializer):
    """What a re-run uses: an extraction engine (default the configured one) and its model."""

    engine = serializers.CharField(required=False, allow_blank=True, max_length=50)
    model = serializers.CharField(required=False, allow_blank=True, max_length=200)
