from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PushConfig(AppConfig):
    name = "push"
    verbose_name = _("Push: webhooks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A committed feed write wakes its endpoints' deliveries (push.wakeup); registration only.
        from crm.changes import register_commit_listener
        from push.wakeup import feed_committed

        register_commit_listener(feed_committed)
