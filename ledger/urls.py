"""Admin pages of the monthly ledger and the assessment (each wrapped in ``admin_view``: staff only)."""

from django.contrib import admin
from django.urls import path, re_path

from ledger import evidence_views, views

app_name = "ledger"

urlpatterns = [
    path("monthly/", admin.site.admin_view(views.monthly), name="monthly"),
    path("monthly/submit/", admin.site.admin_view(views.submit), name="submit"),
    re_path(r"^monthly/export\.(?P<fmt>xlsx|pdf)$", admin.site.admin_view(views.export), name="export"),
    path("evidence/<str:pk>/", admin.site.admin_view(evidence_views.evidence_download), name="evidence"),
    path("overview/", admin.site.admin_view(views.overview), name="overview"),
    path("leaderboard/<slug:code>/", admin.site.admin_view(views.leaderboard), name="leaderboard"),
]
