"""Review work: one task per document waiting for a person, the history of every field change,
and the thresholds supervisors set."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

NO_DEADLINE = datetime(9999, 12, 31, tzinfo=UTC)


class RejectReason(models.TextChoices):
    UNREADABLE = "unreadable", "Unreadable"
    WRONG_DOC_TYPE = "wrong_document_type", "Wrong document type"
    SUSPECTED_FRAUD = "suspected_fraud", "Suspected fraud"
    DUPLICATE = "duplicate", "Duplicate"
    OTHER = "other", "Other"


class CorrectionReason(models.TextChoices):
    MISREAD = "misread", "Misread (OCR/extraction error)"
    UNREADABLE = "unreadable", "Unreadable on the page"
    WRONG_DOC_TYPE = "wrong_document_type", "Wrong document type"
    SUSPECTED_FRAUD = "suspected_fraud", "Suspected fraud"
    DUPLICATE = "duplicate", "Duplicate"
    # Keeps a value that fails its checks because the document prints it so (delivered valid: false).
    AS_PRINTED = "as_printed", "As printed on the document"
    OTHER = "other", "Other"


class ReviewTask(models.Model):
    """The review of one document. The queue's sort keys are copied from the document so that
    the queue and "next" read one table through one partial index."""

    class State(models.TextChoices):
        OPEN = "open"
        DONE = "done"

    class Outcome(models.TextChoices):
        REVIEWED = "reviewed"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"  # the document left review by another way (failed, purged)

    document = models.OneToOneField("docproc.Document", on_delete=models.CASCADE, related_name="review_task")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    # Copied from the document when the task opens (queue order and filters).
    doc_type = models.CharField(max_length=50)
    client = models.ForeignKey("docproc.ApiClient", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.SmallIntegerField(default=0)
    sla_deadline = models.DateTimeField(null=True, blank=True)
    # The SLA deadline, or NO_DEADLINE: a non-null sort key lets one index serve the queue on
    # every database (SQLite indexes cannot say NULLS LAST).
    due_at = models.DateTimeField(default=NO_DEADLINE)
    received_at = models.DateTimeField()
    # Claim: a lock that expires unless the open review page renews it.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="review_tasks")
    claimed_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    # A postponed task is skipped by "next" until then.
    not_before = models.DateTimeField(null=True, blank=True)
    escalated = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_note = models.TextField(blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    reject_reason = models.CharField(max_length=30, choices=RejectReason.choices, blank=True)
    reject_note = models.TextField(blank=True)

    class Meta:
        permissions = [
            ("review_documents", "Can claim documents and review their fields"),
            ("view_results", "Can read documents, page images and results"),
            ("supervise_reviews", "Can release and reassign reviews and see everyone's work"),
            ("change_thresholds", "Can change review thresholds"),
            ("export_results", "Can export review results"),
        ]
        indexes = [
            models.Index(
                F("due_at").asc(), F("priority").desc(), F("received_at").asc(), F("id").asc(),
                name="review_queue_order", condition=Q(state="open"),
            ),
            models.Index(fields=["assignee", "state"], name="review_task_assignee"),
            models.Index(fields=["state", "closed_at"], name="review_task_closed"),
        ]

    def __str__(self) -> str:
        return f"review of {self.document_id}"


class FieldCorrection(models.Model):
    """One decision on one field by one person: accepted as extracted, or changed."""

    class Action(models.TextChoices):
        ACCEPTED = "accepted"
        CORRECTED = "corrected"

    field = models.ForeignKey("docproc.Field", on_delete=models.CASCADE, related_name="corrections")
    document = models.ForeignKey("docproc.Document", on_delete=models.CASCADE, related_name="field_corrections")
    field_name = models.CharField(max_length=80)
    doc_type = models.CharField(max_length=50)
    action = models.CharField(max_length=10, choices=Action.choices)
    old_value = models.JSONField(null=True, blank=True)
    new_value = models.JSONField(null=True, blank=True)
    previous_status = models.CharField(max_length=20)
    confidence = models.FloatField(default=0)
    reason = models.CharField(max_length=30, choices=CorrectionReason.choices, blank=True)
    note = models.TextField(blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["document", "at"]), models.Index(fields=["doc_type", "field_name"])]


class ThresholdSetting(models.Model):
    """A supervisor's review threshold for one field of one document type (overrides the schema's)."""

    doc_type = models.CharField(max_length=50)
    field_name = models.CharField(max_length=80)
    threshold = models.FloatField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["doc_type", "field_name"], name="uniq_threshold_field")]


class ReviewerProfile(models.Model):
    """A staff member's display settings. An empty time zone means the browser's."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviewer_profile")
    time_zone = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"profile of {self.user_id}"
