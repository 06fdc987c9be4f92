from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("Offices and enterprises")

    def ready(self) -> None:
        # Registers the ``__in_array`` lookup (long id lists as one parameter) on every field.
        from crm import pg  # noqa: F401
