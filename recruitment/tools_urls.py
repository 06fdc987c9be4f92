"""Admin tool pages: imports with preview, exports, duplicate enterprises and merging."""

urlpatterns: list = []
