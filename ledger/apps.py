from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = _("Monthly ledger and assessment")

    def ready(self) -> None:
        from ledger import signals  # noqa: F401  (connects the locked-month check)
