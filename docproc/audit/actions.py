"""The audit log's fixed vocabulary of actions.

``record`` refuses an action that is not listed here, so an auditor filtering by action sees every
kind of event the code can write, and a typo cannot hide an event under a name nobody searches for.
An app adds its own actions with ``register_action`` from its ``AppConfig.ready()``.

Each action says which payload keys hold document content (field values, model output): those
are masked in exports and in the auditor UI when masking applies. ``keep_on_purge`` marks events
whose payload holds no document content (statuses, stage names, counts): a retention purge keeps
them; every other payload of a purged document is replaced by a purge marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class UnknownAuditAction(ValueError):
    """``record`` was given an action outside the vocabulary."""


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    description: str
    sensitive: tuple[str, ...] = ()
    keep_on_purge: bool = False


_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
ACTIONS: dict[str, ActionSpec] = {}


def register_action(
    name: str, description: str, *, sensitive: tuple[str, ...] = (), keep_on_purge: bool = False
) -> ActionSpec:
    """Add ``name`` (``family.verb``, at most 60 characters) to the vocabulary. Registering the
    same name twice with the same meaning is harmless; a different meaning raises."""
    if not _NAME.match(name) or len(name) > 60:
        raise ValueError(f"audit action {name!r} must look like 'family.verb' (lower case, at most 60 characters)")
    spec = ActionSpec(name, description, tuple(sensitive), keep_on_purge)
    existing = ACTIONS.get(name)
    if existing is not None and existing != spec:
        raise ValueError(f"audit action {name!r} is already registered as {existing}")
    ACTIONS[name] = spec
    return spec


def get_action(name: str) -> ActionSpec:
    try:
        return ACTIONS[name]
    except KeyError:
        raise UnknownAuditAction(
            f"unknown audit action {name!r}: add it to docproc/audit/actions.py or call "
            f"docproc.audit.actions.register_action() from your app's ready(); known: {', '.join(sorted(ACTIONS))}"
        ) from None


# A reviewer's note is free text and often repeats the value it explains: masked with the values.
VALUE_KEYS = ("before", "after", "value", "values", "old_value", "new_value", "note")

_BUILTIN: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    # documents and the pipeline
    ("document.uploaded", "An upload was accepted and stored", ("file", "external_ref"), False),
    ("document.upload_refused", "An upload was refused, with the reason", ("file",), False),
    ("document.status_changed", "A document moved along its state machine", (), True),
    ("document.auto_accepted", "Every field was at or above its threshold", (), True),
    ("pipeline.stage_started", "A pipeline stage started", (), True),
    ("pipeline.stage_finished", "A pipeline stage finished", (), True),
    ("pipeline.run_reused", "A duplicate took its original's finished extraction run (no model call)", (), True),
    ("pipeline.stage_failed", "A pipeline stage failed, with its error code", (), True),
    ("model.called", "A model was called (links to the model-call log)", ("prompt", "output", "response", "raw"), False),
    ("webhook.queued", "A webhook delivery was created", (), True),
    ("webhook.attempted", "A webhook delivery was attempted", (), True),
    ("webhook.redelivered", "A dead webhook delivery was given a fresh round of attempts", (), True),
    ("api.auth_failed", "API requests from one address carried bad or revoked tokens (count per minute)", (), True),
    ("document.sampled", "An auto-accepted document was sent to review as a sample (DOCPROC_SAMPLE_RATE)", (), True),
    ("document.reprocess_requested", "A new extraction run was requested beside the current one", (), True),
    ("pipeline.rerun_finished", "A re-run was extracted beside the current run (which fields differ)", (), True),
    ("pipeline.rerun_failed", "A re-run could not be made, with its error code", (), True),
    ("document.rerun_adopted", "A supervisor made a re-run's values the document's result", VALUE_KEYS, False),
    ("document.rerun_kept", "A supervisor kept the current values over a re-run's", (), True),
    ("calibration.proposed", "A calibration was refitted on reviewer outcomes and proposed with its thresholds",
     (), True),
    ("calibration.applied", "A supervisor applied a proposed calibration (both versions)", (), True),
    ("calibration.rejected", "A supervisor rejected a proposed calibration (both versions)", (), True),
    # review (reviewer/services.py writes these)
    ("review.claimed", "A reviewer claimed a document", (), True),
    ("review.released", "A review lock was released or the document postponed", ("note",), False),
    ("review.reassigned", "A supervisor gave a document to another reviewer", (), True),
    ("review.escalated", "A reviewer escalated a document to a supervisor", ("note",), False),
    ("review.prioritised", "A supervisor changed a document's queue priority", (), True),
    ("document.retried", "A failed document was sent through processing again (previous error code, attempts)", (), True),
    ("document.requeued", "A supervisor queued stuck documents' processing again", (), True),
    ("field.edited", "A reviewer changed a field's value (old and new value, reason)", VALUE_KEYS, False),
    ("field.accepted", "A reviewer confirmed a field's value", VALUE_KEYS, False),
    ("document.reviewed", "A reviewer accepted a document", VALUE_KEYS, False),
    ("document.rejected", "A reviewer rejected a document, with a reason code", ("note",), False),
    # people, roles and settings
    ("auth.signed_in", "A person signed in", (), True),
    ("auth.sign_in_failed", "A sign-in failed", (), True),
    ("auth.signed_out", "A person signed out", (), True),
    ("auth.locked_out", "Sign-in for a user name from an address was locked after repeated failures", (), True),
    ("user.created", "A user account was created", (), True),
    ("user.flags_changed", "A user's active, staff or superuser flag changed", (), True),
    ("role.changed", "A user's groups changed", (), True),
    ("permission.changed", "A user's or a group's permissions changed", (), True),
    ("settings.changed", "An operational setting changed", (), True),
    ("user.changed", "A user's name, e-mail or password changed (which ones, never the password)", (), True),
    ("user.deleted", "A user account was deleted", (), True),
    ("client.created", "An API client was created", (), True),
    ("client.changed", "An API client's settings changed", (), True),
    ("client.token_rotated", "An API client's token was replaced (the old one stops working)", (), True),
    ("client.revoked", "An API client's token was revoked", (), True),
    ("client.webhook_changed", "An API client's webhook URL or secret changed", (), True),
    ("settings.threshold_changed", "A field's review threshold changed", (), True),
    # vendor memory (docproc/memory.py)
    ("memory.learned", "A review's verified sender values were stored in the vendor memory", (), True),
    ("memory.contradicted", "A review replaced a value the vendor memory held for a sender (before, after)",
     VALUE_KEYS, False),
    ("memory.deleted", "A supervisor deleted a vendor memory entry (what it held)", VALUE_KEYS, False),
    # the audit log itself
    ("audit.exported", "Audit events were exported (filters, count, last hash)", (), True),
    ("review.corrections_exported", "The field decisions (corrections) were exported as CSV", (), True),
    ("retention.purged", "A document's files, field values and audit payloads were purged", (), True),
)

for _name, _description, _sensitive, _keep in _BUILTIN:
    register_action(_name, _description, sensitive=_sensitive, keep_on_purge=_keep)
