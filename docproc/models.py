"""The document domain: API clients, documents and their pages, runs, fields and deliveries."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiClient(models.Model):
    """An upstream system. Its token is shown once at creation and stored only as a hash."""

    name = models.CharField(max_length=200, unique=True)
    token_prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    allowed_doc_types = models.JSONField(default=list, blank=True, help_text="Empty: every type.")
    webhook_url = models.URLField(blank=True, max_length=500)
    webhook_secret = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def new_token(cls) -> str:
        return "dp_" + secrets.token_urlsafe(32)

    def set_token(self, token: str) -> None:
        self.token_prefix = token[:12]
        self.token_hash = self.hash_token(token)

    def allows(self, doc_type: str) -> bool:
        return not self.allowed_doc_types or doc_type in self.allowed_doc_types


class DocumentStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSING = "processing"
    NEEDS_REVIEW = "needs_review"
    AUTO_ACCEPTED = "auto_accepted"
    REVIEWED = "reviewed"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"


S = DocumentStatus
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.RECEIVED: frozenset({S.PROCESSING, S.REJECTED, S.FAILED}),
    # processing -> processing: a redelivered or re-queued task starts again.
    S.PROCESSING: frozenset({S.PROCESSING, S.NEEDS_REVIEW, S.AUTO_ACCEPTED, S.FAILED}),
    S.NEEDS_REVIEW: frozenset({S.REVIEWED, S.REJECTED, S.FAILED}),
    S.AUTO_ACCEPTED: frozenset({S.DELIVERED, S.REVIEWED, S.FAILED}),
    S.REVIEWED: frozenset({S.DELIVERED, S.FAILED}),
    S.DELIVERED: frozenset({S.FAILED}),
    # failed -> received: a retry, made only by docproc.lifecycle.document_reopen (see
    # docproc.services.document_retry); document_transition refuses every move out of failed.
    S.FAILED: frozenset({S.RECEIVED}),
    S.REJECTED: frozenset(),
}
FINAL_STATUSES = frozenset({S.AUTO_ACCEPTED, S.REVIEWED, S.FAILED, S.REJECTED, S.DELIVERED})
RESULT_READY_STATUSES = frozenset({S.NEEDS_REVIEW, S.AUTO_ACCEPTED, S.REVIEWED, S.DELIVERED})


class InvalidTransition(Exception):
    pass


def document_upload_path(instance: Document, filename: str) -> str:
    return f"documents/{instance.id.hex[:2]}/{instance.id.hex}/original"


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="documents", null=True, blank=True)
    external_ref = models.CharField(max_length=200, blank=True, db_index=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=50, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    page_count = models.PositiveIntegerField(default=0)
    doc_type = models.CharField(max_length=50, db_index=True)
    file = models.FileField(upload_to=document_upload_path, max_length=300)
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=S.RECEIVED, db_index=True)
    stage = models.CharField(max_length=40, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_detail = models.TextField(blank=True)
    priority = models.SmallIntegerField(default=0)
    sla_deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    # The earlier document with the same bytes (same client and type) whose finished stage
    # results this one reused; it is a document of its own, delivered under its own reference.
    duplicate_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates")
    # Sent to review although every field was auto-accepted: the sampling audit of
    # DOCPROC_SAMPLE_RATE, which measures the precision of what the machine accepts alone.
    review_sample = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "idempotency_key"], condition=~Q(idempotency_key=""), name="uniq_client_idempotency_key"
            ),
        ]
        indexes = [models.Index(fields=["client", "sha256"]), models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.doc_type} {self.id}"

    def can_move_to(self, status: str) -> bool:
        return (status == S.FAILED and self.status not in (S.FAILED, S.REJECTED)) or status in ALLOWED_TRANSITIONS[self.status]


class Page(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()
    width = models.FloatField(default=0)
    height = models.FloatField(default=0)
    source = models.CharField(max_length=20, blank=True)  # text-layer | ocr
    image = models.CharField(max_length=300, blank=True)  # a name in the default storage (docproc/storage.py)
    image_width = models.PositiveIntegerField(default=0)
    image_height = models.PositiveIntegerField(default=0)
    thumbnail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="uniq_page_number")]


class StageResult(models.Model):
    """A stage's output for one page (0 = whole document), reused when a task is retried."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="stage_results")
    page = models.PositiveIntegerField(default=0)
    stage = models.CharField(max_length=30)
    engine = models.CharField(max_length=50)
    engine_version = models.CharField(max_length=50)
    prompt_version = models.CharField(max_length=50, blank=True, default="")
    payload = models.JSONField()
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["document", "page", "stage", "engine", "engine_version", "prompt_version"],
                name="uniq_stage_result",
            )
        ]


class RerunState(models.TextChoices):
    """Where a re-run stands. A document's first run has none (""); a re-run is made beside the
    current run and becomes the document's result only when a supervisor adopts it."""

    NONE = "", "first run"
    QUEUED = "queued"  # requested, waiting for a worker
    PENDING = "pending"  # extracted; the supervisor has not chosen yet
    ADOPTED = "adopted"  # its values are the document's result
    KEPT = "kept"  # the supervisor kept the earlier values
    FAILED = "failed"  # the re-run could not be made (its error is in fallback_reason)


# The runs whose fields can be the document's result.
CURRENT_RUN_STATES = (RerunState.NONE, RerunState.ADOPTED)


class ExtractionRun(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="runs")
    # A re-run: the run that was current when it was requested, and where it stands.
    reprocess_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns")
    rerun_state = models.CharField(max_length=10, choices=RerunState.choices, default=RerunState.NONE, blank=True)
    extractor = models.CharField(max_length=50)
    # The model's name is part of these (a user's GGUF file name, the calibration fitted for it).
    extractor_version = models.CharField(max_length=200)
    prompt_version = models.CharField(max_length=50, blank=True)
    calibration_version = models.CharField(max_length=200, blank=True)
    fallback_reason = models.TextField(blank=True)
    engines = models.JSONField(default=dict)
    timings = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class FieldStatus(models.TextChoices):
    AUTO_ACCEPTED = "auto_accepted"
    NEEDS_REVIEW = "needs_review"
    ACCEPTED = "accepted"  # a person confirmed the extracted value
    CORRECTED = "corrected"  # a person changed the value


class Field(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="fields")
    run = models.ForeignKey(ExtractionRun, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=80)
    value = models.JSONField(null=True, blank=True)  # as printed (a list for table fields)
    normalized = models.JSONField(null=True, blank=True)
    confidence = models.FloatField(default=0)
    status = models.CharField(max_length=20, choices=FieldStatus.choices, default=FieldStatus.NEEDS_REVIEW)
    page = models.PositiveIntegerField(null=True, blank=True)
    bbox = models.JSONField(null=True, blank=True)
    source_words = models.JSONField(default=list, blank=True)
    word_ids = models.JSONField(default=list, blank=True)
    messages = models.JSONField(default=list, blank=True)
    signals = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField(default=0.9)
    original_value = models.JSONField(null=True, blank=True)  # the extractor's value, kept after a correction
    # extractor | template | form_field | fallback | memory | reviewer (see pipeline.types.FieldResult)
    source = models.CharField(max_length=20, default="extractor")
    valid = models.BooleanField(default=True)  # False: a check fails (a reviewer may keep it as printed)
    reasons = models.JSONField(default=list, blank=True)  # why it waits for a person
    evidence = models.JSONField(default=list, blank=True)  # why it is believed beyond the extractor (memory)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    position = models.PositiveIntegerField(default=0)
    # The status routing gave it (auto_accepted or needs_review), kept after a review changes status.
    routed_status = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="uniq_field_per_run")]
        indexes = [models.Index(fields=["document", "status"])]


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"  # gave up after the last attempt; visible to supervisors

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="deliveries")
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=50)
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["number"]


class ModelCall(models.Model):
    """One call to an extraction model (or an answer from its cache), for cost and audit."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="model_calls", null=True, blank=True)
    run = models.ForeignKey(ExtractionRun, on_delete=models.CASCADE, related_name="model_calls", null=True, blank=True)
    backend = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    cache_hit = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["backend", "model", "created_at"])]


class SenderMemory(models.Model):
    """Vendor memory: what reviewers verified about one sender of one client's documents of one
    type (docproc/memory.py writes and reads it). ``header`` and ``numbers`` are the sender's
    fingerprint (pipeline.memory.SenderFingerprint) as last seen; ``values`` maps each
    ``memory: sender`` field to ``{"value": ..., "documents": N}``, the value and how many
    reviewed documents verified it; ``example_documents`` the latest verified documents (newest
    first), which an LLM is shown as worked examples."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="sender_memories", null=True, blank=True)
    doc_type = models.CharField(max_length=50)
    header = models.JSONField(default=list)
    numbers = models.JSONField(default=list, blank=True)
    values = models.JSONField(default=dict)
    documents = models.PositiveIntegerField(default=0)
    example_documents = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["client", "doc_type"])]

    def __str__(self) -> str:
        return f"{self.doc_type} sender {self.pk}"


class FieldOutcome(models.Model):
    """What review said of one machine value: the learning signal of calibration refits.

    One row per reviewed field (made when its review completes, updated when it is corrected
    later). ``weight`` is 2 for a value the machine auto-accepted and a person corrected: such
    a miss costs more than a doubtful value sent to review, so it counts double against its
    calibration. ``sampled``: the document went to review only as a sample of auto-accepted
    ones (DOCPROC_SAMPLE_RATE)."""

    field = models.OneToOneField(Field, null=True, on_delete=models.SET_NULL, related_name="outcome")
    document = models.ForeignKey(Document, null=True, on_delete=models.SET_NULL, related_name="outcomes")
    client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    doc_type = models.CharField(max_length=50)
    field_name = models.CharField(max_length=80)
    backend = models.CharField(max_length=50)  # the extractor
    model = models.CharField(max_length=200, blank=True)  # its version (the model for an LLM)
    prompt_version = models.CharField(max_length=50, blank=True)
    calibration_version = models.CharField(max_length=200, blank=True)
    # Who gave the machine's value: extractor, template, form_field or fallback. Only the
    # extractor's values say anything about the extractor's calibration.
    source = models.CharField(max_length=20, default="extractor")
    machine_value = models.JSONField(null=True, blank=True)
    verified_value = models.JSONField(null=True, blank=True)
    signals = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(default=0)
    threshold = models.FloatField(default=0.9)
    has_value = models.BooleanField(default=True)
    valid = models.BooleanField(default=True)
    correct = models.BooleanField()
    auto_accepted = models.BooleanField(default=False)
    sampled = models.BooleanField(default=False)
    explicit = models.BooleanField(default=True)  # a person accepted or corrected it (not left as routed)
    weight = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["client", "doc_type", "backend", "model", "prompt_version"]),
                   models.Index(fields=["doc_type", "field_name", "auto_accepted"])]


class CalibrationProposal(models.Model):
    """A refit of one (client, document type, backend, model, prompt version) calibration on
    reviewer outcomes, with both versions (``current``, ``proposed``: calibration, thresholds and
    their figures per field) until a supervisor applies or rejects it. The latest applied one is
    what extraction uses for that client."""

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        APPLIED = "applied"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"  # a newer proposal or application replaced it

    client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    doc_type = models.CharField(max_length=50)
    backend = models.CharField(max_length=50)
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    version = models.CharField(max_length=80, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROPOSED, db_index=True)
    current = models.JSONField(default=dict)
    proposed = models.JSONField(default=dict)
    target_precision = models.FloatField()
    outcomes = models.PositiveIntegerField(default=0)
    folds = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
