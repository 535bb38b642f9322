from __future__ import annotations

from rest_framework import serializers

from docproc.doctypes import DOC_TYPES
from docproc.models import Document


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, use_url=False)
    doc_type = serializers.ChoiceField(choices=())
    external_ref = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The registry's types, read when the serializer is made: a module constant would miss
        # the types of DOCPROC_DOCTYPES_DIR loaded when Django started.
        self.fields["doc_type"].choices = sorted(DOC_TYPES)


class DocumentSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = ["id", "external_ref", "doc_type", "status", "stage", "original_name", "content_type", "size",
                  "page_count", "sha256", "error", "created_at", "updated_at", "finished_at", "links"]

    def get_error(self, obj) -> dict | None:
        return {"code": obj.error_code, "detail": obj.error_detail} if obj.error_code else None

    def get_links(self, obj) -> dict:
        return {"self": f"/api/v1/documents/{obj.id}/", "result": f"/api/v1/documents/{obj.id}/result/"}
