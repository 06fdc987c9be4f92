from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = _("Monthly ledger and assessment")

    def ready(self) -> None:
        # The ledger's rules on recruitment's writes, as explicit calls recruitment makes (it may not import us).
        from ledger import reminders, services
        from recruitment.landing import progress_hooks_register
        from recruitment.reminders import notice_check_register

        progress_hooks_register(
            name="ledger.locked_month", before=services.locked_month_check, after=services.locked_month_mark
        )
        notice_check_register(kind=reminders.KIND, check=reminders.reminder_still_needed)
