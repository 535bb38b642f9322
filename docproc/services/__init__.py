"""Services: every write of the document domain, each with its audit event, in one transaction.

Split by concern; this package re-exports the public services so callers write
``services.document_upload(...)``:

- ``uploads``: store, dedupe and audit what a client sends, queue its pipeline;
- ``processing``: pipeline orchestration (ingest, OCR, extract, save and route the result, fail,
  requeue what the broker lost);
- ``retention``: purge what a client's retention period no longer allows us to keep;
- ``learning``: reviewer outcomes, calibration refits and proposals, the sampling audit;
- ``reprocess``: re-runs beside the current run, and a supervisor's choice between them.

Status moves are in docproc/lifecycle.py, reads (the result document too) in
docproc/selectors.py, task names in docproc/dispatch.py, deliveries in docproc/webhooks.py.
"""

from __future__ import annotations

from .learning import (
    CalibrationRefused,
    calibration_lookup,
    calibration_proposal_decide,
    calibrations_refit,
    field_outcome_record,
    field_outcomes_record,
    measured_precision,
    review_sample_chosen,
)
from .processing import (
    BAD_FILE_CODES,
    MAX_ATTEMPTS,
    STAGE_EXTRACT,
    STAGE_OCR,
    DbStageCache,
    RetryRefused,
    doctype_for_routing,
    document_extract,
    document_fail,
    document_ingest,
    document_next_stage,
    document_ocr,
    document_retry,
    documents_requeue_stuck,
    field_value_check,
    model_calls_record,
    run_date_order,
)
from .reprocess import (
    REPROCESSABLE,
    ReprocessRefused,
    document_reprocess,
    document_reprocess_request,
    document_rerun_decide,
    rerun_changes,
    rerun_fail,
)
from .retention import PurgeResult, document_purge, documents_expired, documents_purge_expired
from .uploads import (
    UploadOutcome,
    UploadRefused,
    document_upload,
    flush_upload_refusals,
    sanitize_filename,
    upload_refusal_record,
)

__all__ = (
    "BAD_FILE_CODES",
    "MAX_ATTEMPTS",
    "REPROCESSABLE",
    "STAGE_EXTRACT",
    "STAGE_OCR",
    "CalibrationRefused",
    "DbStageCache",
    "PurgeResult",
    "ReprocessRefused",
    "RetryRefused",
    "UploadOutcome",
    "UploadRefused",
    "calibration_lookup",
    "calibration_proposal_decide",
    "calibrations_refit",
    "doctype_for_routing",
    "document_extract",
    "document_fail",
    "document_ingest",
    "document_next_stage",
    "document_ocr",
    "document_purge",
    "document_reprocess",
    "document_reprocess_request",
    "document_rerun_decide",
    "document_retry",
    "document_upload",
    "documents_expired",
    "documents_purge_expired",
    "documents_requeue_stuck",
    "field_outcome_record",
    "field_outcomes_record",
    "field_value_check",
    "flush_upload_refusals",
    "measured_precision",
    "model_calls_record",
    "rerun_changes",
    "rerun_fail",
    "review_sample_chosen",
    "run_date_order",
    "sanitize_filename",
    "upload_refusal_record",
)
