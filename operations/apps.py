from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OperationsConfig(AppConfig):
    """Running the product: above every product app, and above the seed data it loads by command name."""

    name = "operations"
    verbose_name = _("Operations")
