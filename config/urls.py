"""Top-level URLs: admin (with its report and tool pages), health probes, the partner API."""

from django.contrib import admin
from django.urls import include, path

from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/reports/", include("recruitment.reports_urls")),
    path("admin/ledger/", include("ledger.urls")),
    path("admin/tools/", include("recruitment.tools_urls")),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("api/", include("push.urls")),
]

# A URL under /api/ that matches no route answers in the API's error format, not an HTML page.
handler404 = "api.errors.page_not_found"
