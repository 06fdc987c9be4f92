from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("Partner API")

    def ready(self) -> None:
        # The change feed stores each record as its detail endpoint renders it.
        from api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from api.feed_rendering import register_feed_renderers

        register_feed_renderers()
