from django.urls import path

from . import views

app_name = "reviewer"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("next/", views.next_document, name="next"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("profile/", views.profile, name="profile"),
    path("work/", views.work, name="work"),
    path("work/requeue-stuck/", views.requeue_stuck, name="requeue_stuck"),
    path("work/<uuid:document_id>/retry/", views.retry_failed, name="retry_failed"),
    path("memory/", views.sender_memory, name="memory"),
    path("memory/<int:entry_id>/delete/", views.sender_memory_delete, name="memory_delete"),
    path("bulk/", views.bulk, name="bulk"),
    path("thresholds/", views.threshold, name="threshold"),
    path("calibrations/<int:proposal_id>/decide/", views.calibration_decide, name="calibration_decide"),
    path("export/corrections.csv", views.export_corrections, name="export_corrections"),
    path("doc/<uuid:document_id>/", views.review, name="review"),
    path("doc/<uuid:document_id>/claim/", views.claim, name="claim"),
    path("doc/<uuid:document_id>/heartbeat/", views.heartbeat, name="heartbeat"),
    path("doc/<uuid:document_id>/field/<int:field_id>/", views.field_action, name="field"),
    path("doc/<uuid:document_id>/accept-confident/", views.accept_confident, name="accept_confident"),
    path("doc/<uuid:document_id>/submit/", views.submit, name="submit"),
    path("doc/<uuid:document_id>/reject/", views.reject, name="reject"),
    path("doc/<uuid:document_id>/postpone/", views.postpone, name="postpone"),
    path("doc/<uuid:document_id>/escalate/", views.escalate, name="escalate"),
    path("doc/<uuid:document_id>/release/", views.release, name="release"),
    path("doc/<uuid:document_id>/reassign/", views.reassign, name="reassign"),
    path("doc/<uuid:document_id>/page/<int:number>.png", views.page_image, name="page_image"),
    path("documents/<uuid:document_id>/", views.document, name="document"),
    path("documents/<uuid:document_id>/status.json", views.document_status, name="document_status"),
    path("documents/<uuid:document_id>/reprocess/", views.reprocess, name="reprocess"),
    path("documents/<uuid:document_id>/runs/<int:run_id>/decide/", views.rerun_decide, name="rerun_decide"),
]
