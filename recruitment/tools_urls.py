"""Admin tool pages: imports with preview, exports, duplicate enterprises and merging.

Every view is wrapped in ``admin.site.admin_view``: only active staff get in, and
an anonymous visitor is sent to the admin login. The names below are what the
admin index and change lists link to (``tools:import``, ``tools:export``…).
"""

from django.contrib import admin
from django.urls import path

from recruitment import tool_views

app_name = "tools"

urlpatterns = [
    path("import/", admin.site.admin_view(tool_views.import_upload), name="import"),
    path(
        "import/template/<slug:kind>.<slug:fmt>",
        admin.site.admin_view(tool_views.import_template_download),
        name="import-template",
    ),
    path("import/<str:token>/", admin.site.admin_view(tool_views.import_preview), name="import-preview"),
    path("export/", admin.site.admin_view(tool_views.export), name="export"),
    path("duplicates/", admin.site.admin_view(tool_views.duplicates), name="duplicates"),
    path("merge/", admin.site.admin_view(tool_views.merge), name="merge"),
]
