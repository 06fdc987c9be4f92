"""Admin report pages: the pipeline dashboard and the chain gap maps.

Every view is wrapped in ``admin.site.admin_view``: only active staff get in, and an
anonymous visitor is sent to the admin login.
"""

from django.contrib import admin
from django.urls import path

from recruitment import report_views

app_name = "reports"

urlpatterns = [
    path("dashboard/", admin.site.admin_view(report_views.dashboard), name="dashboard"),
    path("chains/", admin.site.admin_view(report_views.chain_maps), name="chain-maps"),
    path("chains/<slug:code>/", admin.site.admin_view(report_views.chain_map), name="chain-map"),
    path(
        "chains/<slug:code>/stages/<slug:stage_code>/",
        admin.site.admin_view(report_views.chain_map_stage),
        name="chain-map-stage",
    ),
]
