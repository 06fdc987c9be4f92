"""What the partner API keeps of its own: office keys, idempotency records, the feed's retention mark."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from chains.models import TimestampedModel


class ApiKey(TimestampedModel):
    """A partner system's key. Only a hash of it is stored; the key itself is shown once.

    Each key acts through a service account of its own (``user``, inactive, so it can
    never log in to admin): history then names which key made a change.
    """

    office = models.ForeignKey(
        "crm.Office", on_delete=models.PROTECT, related_name="api_keys", verbose_name=_("office")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="api_key",
        verbose_name=_("service account"),
        help_text=_("Changes made with this key are recorded in history under this account."),
    )
    label = models.CharField(_("label"), max_length=200, blank=True)
    prefix = models.CharField(
        _("key prefix"), max_length=16, unique=True, help_text=_("The start of the key, to tell keys apart.")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True, editable=False)
    read_only = models.BooleanField(_("read-only"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.label})" if self.label else f"{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key``.

    The row is inserted, under its unique constraint, in the same transaction as
    the write it guards: a concurrent request with the same key waits on the
    constraint and then replays this response; if the first request fails, the
    row goes away with its rollback and the key can be used again.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", verbose_name=_("API key"))
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    response_body = models.BinaryField(_("response body"), default=b"")
    response_headers = models.JSONField(_("response headers"), default=dict)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique_per_api_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return self.key


class ChangeFeedRetention(models.Model):
    """The highest feed position of a tombstone purged by retention, and how many purges
    removed something (one row).

    Cursors carry the ``generation`` they were issued in. A cursor from an earlier
    generation that is below the mark may have missed a purged deletion: 410, resync.
    A cursor issued since the last purge is good wherever it points: its client never
    saw the records whose tombstones were purged.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    generation = models.PositiveIntegerField(_("purge generation"), default=0)
    txid = models.BigIntegerField(_("transaction id"))
    seq = models.BigIntegerField(_("sequence"))
    purged_at = models.DateTimeField(_("purged at"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("change-feed retention mark")
        verbose_name_plural = _("change-feed retention marks")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="changefeedretention_single_row")]

    def __str__(self) -> str:
        return f"{self.txid}.{self.seq}"
