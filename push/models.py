"""Webhook endpoints, the messages owed to them, and every attempt to deliver one."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chains.models import TimestampedModel, new_id


class WebhookEndpoint(TimestampedModel):
    """A partner system's URL that receives its office's change feed, signed.

    The endpoint reads the feed from its own cursor (``cursor_txid``/``cursor_seq``):
    a position is passed only in the transaction that records the messages for it,
    so an outage of the worker, the broker or the receiver loses nothing.
    """

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    office = models.ForeignKey(
        "crm.Office", on_delete=models.CASCADE, related_name="webhook_endpoints", verbose_name=_("office")
    )
    external_id = models.CharField(_("external id"), max_length=128, blank=True, default="")
    version = models.PositiveIntegerField(_("version"), default=1)
    url = models.URLField(_("URL"), max_length=2000)
    events = models.JSONField(
        _("events"), default=list, help_text=_('Event types such as "contact.upsert", or "*" for all.')
    )
    description = models.CharField(_("description"), max_length=500, blank=True, default="")
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=500, blank=True, default="")
    # Signing secrets, sealed (crm.sealing). The previous one stays valid until it expires.
    secret_sealed = models.TextField(editable=False)
    previous_secret_sealed = models.TextField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The feed position every change up to which has been turned into messages.
    cursor_txid = models.BigIntegerField(default=0, editable=False)
    cursor_seq = models.BigIntegerField(default=0, editable=False)
    # One worker at a time delivers to an endpoint (a lease, taken by a conditional UPDATE).
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    leased_until = models.DateTimeField(null=True, blank=True, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["office", "created_at"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        constraints = [
            models.UniqueConstraint(
                fields=["office", "external_id"],
                condition=~models.Q(external_id=""),
                name="webhook_endpoint_external_id_unique",
            ),
        ]
        indexes = [models.Index(fields=["office", "id"], name="webhook_endpoint_office_idx")]

    def __str__(self) -> str:
        return self.url


class WebhookMessage(TimestampedModel):
    """One change owed to one endpoint. Its id is the ``webhook-id``: the same on every retry and replay."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="messages", verbose_name=_("endpoint")
    )
    txid = models.BigIntegerField()
    seq = models.BigIntegerField()
    event_type = models.CharField(_("event"), max_length=40)
    object_id = models.UUIDField(_("record"))
    payload = models.TextField(_("payload"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    last_status = models.PositiveSmallIntegerField(_("last response code"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["endpoint", "txid", "seq"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "txid", "seq"], name="webhook_message_once_per_position"),
            models.CheckConstraint(condition=models.Q(state__in=["pending", "delivered"]), name="webhook_state_valid"),
        ]
        indexes = [
            # Only what is still owed: the head of each endpoint's queue stays one index probe away.
            models.Index(
                fields=["endpoint", "txid", "seq"],
                condition=models.Q(state="pending"),
                name="webhook_message_pending_idx",
            ),
            models.Index(fields=["created_at"], name="webhook_message_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.event_type}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.pk.hex}"


class WebhookAttempt(models.Model):
    """One try to deliver a message: what the receiver answered (kept 30 days)."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("endpoint")
    )
    message = models.ForeignKey(
        WebhookMessage, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    attempted_at = models.DateTimeField(_("attempted at"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    response_excerpt = models.TextField(_("response excerpt"), blank=True, default="")
    error = models.CharField(_("error"), max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        ordering = ["-attempted_at", "-id"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        indexes = [
            models.Index(fields=["endpoint", "-attempted_at"], name="webhook_attempt_endpoint_idx"),
            models.Index(fields=["attempted_at"], name="webhook_attempt_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.status_code or ''}"
