from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

urlpatterns = [
    path("documents/", views.DocumentListCreate.as_view(), name="api-documents"),
    path("documents/<uuid:document_id>/", views.DocumentDetail.as_view(), name="api-document"),
    path("documents/<uuid:document_id>/result/", views.DocumentResult.as_view(), name="api-document-result"),
    path("documents/<uuid:document_id>/retry/", views.DocumentRetry.as_view(), name="api-document-retry"),
    path("documents/<uuid:document_id>/reprocess/", views.DocumentReprocess.as_view(), name="api-document-reprocess"),
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="api-schema"),
    # The split view serves Swagger UI's start-up script as its own file (docs/?script=): the
    # Content-Security-Policy allows scripts from this origin only, never inline ones.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[]),
         name="api-docs"),
]
