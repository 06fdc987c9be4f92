"""URLs of the partner REST API v1, its schema and docs."""

urlpatterns: list = []
