from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SeedsConfig(AppConfig):
    name = "seeds"
    verbose_name = _("Seed data")

    def ready(self) -> None:
        from seeds import checks  # noqa: F401 - registers the deploy check
