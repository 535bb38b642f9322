from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from docproc import health, metrics, ops

urlpatterns = [
    path("", RedirectView.as_view(url="/review/", permanent=False)),
    path("api/v1/", include("docproc.api.urls")),
    path("review/", include("reviewer.urls")),
    path("audit/", include("docproc.audit.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("ops/webhooks/", ops.webhook_deliveries, name="ops-webhooks"),
    path("ops/webhooks/dead/", ops.dead_letters, name="ops-dead-letters"),
    path("ops/webhooks/<uuid:delivery_id>/redeliver/", ops.redeliver, name="ops-redeliver"),
]

# People get the error in the site's layout with a way back; /api/ and JSON callers get JSON.
handler403 = "reviewer.views.permission_denied"
handler404 = "reviewer.views.page_not_found"
handler500 = "docproc.api.errors.json_500"
