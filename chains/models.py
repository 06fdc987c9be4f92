"""Reference data: zones, parks, sectors, chains and their stages (a graph).

Slow to change and keyed by stable ``code`` slugs, so partner systems and seeds can
refer to them without knowing database ids.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7


def new_id() -> uuid.UUID:
    """A new record's key: a time-ordered UUID (version 7, RFC 9562), monotonic in this process.

    A random key (version 4) lands on a random page of every index that holds it: an
    import of 100,000 projects dirtied pages all over the keys' indexes (its own, its
    history's, its status rows', its follow-ups'), and with a checkpoint every
    gigabyte of WAL each page was logged whole again: 2 GB of WAL for 20,000 rows.
    Keys in time order are appended at the right of those indexes (460 MB for the same
    rows). The first 48 bits are the creation time in milliseconds, which ``created_at``
    already tells; then a counter started at a random value each millisecond (which keeps
    the keys of one process in order within a millisecond) and 32 fresh random bits, so
    a key cannot be derived from another.
    """
    return uuid7()


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class ReferenceModel(TimestampedModel):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where this reference fact comes from."))

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Zone(ReferenceModel):
    """An economic zone (经济区), e.g. the Taiyuan–Xinzhou integrated economic zone."""

    target_output_value = models.DecimalField(
        _("target output value (CNY)"), max_digits=18, decimal_places=2, null=True, blank=True
    )

    class Meta(ReferenceModel.Meta):
        verbose_name = _("economic zone")
        verbose_name_plural = _("economic zones")


class Park(ReferenceModel):
    """An industrial park or development zone (园区) inside an economic zone."""

    zone = models.ForeignKey(Zone, on_delete=models.PROTECT, related_name="parks", verbose_name=_("zone"))
    city = models.CharField(_("city"), max_length=100, blank=True)

    class Meta(ReferenceModel.Meta):
        verbose_name = _("park")
        verbose_name_plural = _("parks")


class Sector(ReferenceModel):
    """A new-material sector (领域), e.g. carbon new materials."""

    class Meta(ReferenceModel.Meta):
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")


class Chain(ReferenceModel):
    """An industrial chain (产业链) mapped stage by stage."""

    sector = models.ForeignKey(Sector, on_delete=models.PROTECT, related_name="chains", verbose_name=_("sector"))
    zone = models.ForeignKey(
        Zone, on_delete=models.PROTECT, related_name="chains", verbose_name=_("zone"), null=True, blank=True
    )
    target_output_value = models.DecimalField(
        _("target output value (CNY)"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    chain_chief = models.CharField(_("chain chief (链长)"), max_length=200, blank=True)
    lead_unit = models.CharField(_("lead unit (牵头单位)"), max_length=200, blank=True)
    # Named by string: the chain owner is an enterprise of the directory (crm), a higher app.
    owner_enterprise = models.ForeignKey(
        "crm.Enterprise",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_chains",
        verbose_name=_("chain-owner enterprise (链主)"),
    )
    parks = models.ManyToManyField(
        Park, through="ChainPark", related_name="chains", blank=True, verbose_name=_("parks")
    )

    class Meta(ReferenceModel.Meta):
        verbose_name = _("industrial chain")
        verbose_name_plural = _("industrial chains")


class ChainPark(TimestampedModel):
    """A park develops a chain (the chain plan's parks)."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="chain_parks")
    park = models.ForeignKey(Park, on_delete=models.CASCADE, related_name="chain_parks")
    source = models.TextField(_("source"), blank=True)

    class Meta:
        ordering = ["chain", "park"]
        constraints = [models.UniqueConstraint(fields=["chain", "park"], name="chainpark_unique")]
        verbose_name = _("park developing a chain")
        verbose_name_plural = _("parks developing chains")

    def __str__(self) -> str:
        return f"{self.chain} @ {self.park}"


class Stage(TimestampedModel):
    """A stage (环节) of a chain; ``feeds`` are the stages it supplies downstream."""

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="stages", verbose_name=_("chain"))
    code = models.SlugField(_("code"), max_length=64)
    name = models.CharField(_("name (Chinese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    feeds = models.ManyToManyField(
        "self",
        symmetrical=False,
        related_name="fed_by",
        blank=True,
        through="StageEdge",
        verbose_name=_("feeds"),
    )
    target_parks = models.ManyToManyField(
        Park,
        related_name="target_stages",
        blank=True,
        verbose_name=_("target parks (远景图)"),
        help_text=_("Parks where the chain plan wants this stage (the target map)."),
    )

    class Meta:
        ordering = ["chain__code", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["chain", "code"], name="stage_code_unique_in_chain")]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")

    def __str__(self) -> str:
        return f"{self.chain.name} · {self.name}"


class StageEdge(models.Model):
    """``upstream`` feeds ``downstream``; both must belong to the same chain."""

    upstream = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="out_edges")
    downstream = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="in_edges")

    class Meta:
        ordering = ["upstream", "downstream"]
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="stageedge_unique"),
            models.CheckConstraint(condition=~models.Q(upstream=models.F("downstream")), name="stageedge_not_self"),
        ]
        verbose_name = _("stage edge")
        verbose_name_plural = _("stage edges")

    def __str__(self) -> str:
        return f"{self.upstream.code} → {self.downstream.code}"
