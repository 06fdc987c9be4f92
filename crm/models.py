"""The parties: offices, users, the shared enterprise directory, presences, contacts,
interactions, and the change log that feeds partner systems."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from chains.models import Park, Stage, TimestampedModel, new_id
from crm.credit_code import validate_credit_code


class Office(TimestampedModel):
    """An investment-promotion office. ``provincial`` offices see everything."""

    class Kind(models.TextChoices):
        PROVINCIAL = "provincial", _("Provincial department")
        PARK = "park", _("Park office")
        PARTNER = "partner", _("Partner office")

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    park = models.ForeignKey(
        Park,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="offices",
        verbose_name=_("park"),
        help_text=_("For a park office: the park it runs."),
    )
    email = models.EmailField(_("e-mail"), blank=True)
    is_demo = models.BooleanField(_("illustrative (demo) data"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("office")
        verbose_name_plural = _("offices")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["provincial", "park", "partner"]), name="office_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def sees_everything(self) -> bool:
        return self.kind == self.Kind.PROVINCIAL


class User(AbstractUser):
    """A member of staff; belongs to an office. Managers get escalations and digests of their office."""

    office = models.ForeignKey(
        Office, on_delete=models.PROTECT, null=True, blank=True, related_name="users", verbose_name=_("office")
    )
    is_manager = models.BooleanField(
        _("manager"), default=False, help_text=_("Managers receive their office's overdue escalations.")
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)

    class Meta(AbstractUser.Meta):
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username


class OfficeRecord(TimestampedModel):
    """A record partners sync: UUID id, the partner's own id, a version bumped on every change."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+", verbose_name=_("office"))
    external_id = models.CharField(
        _("external id"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("The partner system's own id; unique within an office."),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        abstract = True


def _external_id_unique(model_name: str) -> models.UniqueConstraint:
    # The partner's id leads: a batch's lookup by (external_id = ANY(…), office) probes
    # this index for each id, and cannot be planned as a walk over all of an office's
    # rows, which is what statistics taken while the office was still small suggest.
    return models.UniqueConstraint(
        fields=["external_id", "office"],
        condition=~models.Q(external_id=""),
        name=f"{model_name}_external_id_unique_per_office",
    )


class Enterprise(OfficeRecord):
    """An enterprise of the shared directory. ``office`` is the office that created it."""

    class Ownership(models.TextChoices):
        STATE = "state", _("State-owned")
        PRIVATE = "private", _("Private")
        FOREIGN = "foreign", _("Foreign-invested")
        JOINT = "joint_venture", _("Joint venture")
        OTHER = "other", _("Other")

    office = models.ForeignKey(
        Office,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by office"),
        help_text=_("Empty for reference enterprises from the sources."),
        # No index of its own: an index led by the office would be the planner's pick
        # for a batch's lookup by partner ids whenever its statistics are stale.
        db_index=False,
    )
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    credit_code = models.CharField(
        _("unified social credit code"),
        max_length=18,
        null=True,
        blank=True,
        unique=True,
        validators=[validate_credit_code],
        help_text=_("统一社会信用代码: 18 characters with a check digit."),
    )
    ownership = models.CharField(_("ownership"), max_length=16, choices=Ownership.choices, default=Ownership.OTHER)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    registered_capital = models.DecimalField(
        _("registered capital (CNY)"),
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    website = models.URLField(_("website"), blank=True)
    stages = models.ManyToManyField(
        Stage, related_name="capable_enterprises", blank=True, verbose_name=_("capabilities (stages it can supply)")
    )
    name_pinyin = models.CharField(_("pinyin"), max_length=600, blank=True, editable=False)
    name_initials = models.CharField(_("pinyin initials"), max_length=200, blank=True, editable=False)
    name_normalized = models.CharField(_("normalised name"), max_length=200, blank=True, editable=False, db_index=True)
    source = models.TextField(_("source"), blank=True, help_text=_("Where a reference fact comes from."))
    is_demo = models.BooleanField(_("illustrative (demo) data"), default=False)
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_from",
        verbose_name=_("merged into"),
        editable=False,
    )
    history = HistoricalRecords(
        m2m_fields=[stages],
        excluded_fields=["name_pinyin", "name_initials", "name_normalized"],
        # History is read by record (id) and time, its stage copies by history row;
        # indexes on these columns (the last two are the stage copies') would only slow
        # every write down.
        no_db_index=["credit_code", "merged_into", "office", "enterprise", "stage"],
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("enterprise")
        verbose_name_plural = _("enterprises")
        constraints = [
            _external_id_unique("enterprise"),
            models.CheckConstraint(
                condition=models.Q(registered_capital__isnull=True) | models.Q(registered_capital__gte=0),
                name="enterprise_capital_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(credit_code__isnull=True) | models.Q(credit_code__regex=r"^[0-9A-Z]{18}$"),
                name="enterprise_credit_code_format",
            ),
        ]
        indexes = [
            models.Index(fields=["updated_at"], name="enterprise_updated_idx"),
            models.Index(fields=["name_pinyin"], name="enterprise_pinyin_idx"),
            # The change list: its order (name, then newest id first), the office filter in
            # that order, the sortable capital; prefixes of credit codes and initials
            # (pattern operators: any collation). Substring search: crm.search.
            models.Index(fields=["name", "-id"], name="enterprise_name_page_idx"),
            # The office filter reads an expression of the office: a batch's lookup by
            # (office, partner ids) cannot take this index for the unique one (see above).
            models.Index(
                Coalesce(F("office"), Value(0)), F("name").asc(), F("id").desc(), name="enterprise_office_name_idx"
            ),
            models.Index(fields=["registered_capital", "-id"], name="enterprise_capital_page_idx"),
            models.Index(fields=["credit_code"], opclasses=["varchar_pattern_ops"], name="enterprise_code_prefix_idx"),
            models.Index(
                fields=["name_initials"], opclasses=["varchar_pattern_ops"], name="enterprise_initials_prefix_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Presence(TimestampedModel):
    """An enterprise operating, or being built, at a stage in a park: what covers a stage."""

    class Status(models.TextChoices):
        OPERATING = "operating", _("Operating")
        CONSTRUCTION = "construction", _("Under construction")

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="presences", verbose_name=_("enterprise")
    )
    park = models.ForeignKey(Park, on_delete=models.PROTECT, related_name="presences", verbose_name=_("park"))
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="presences", verbose_name=_("stage"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPERATING)
    note = models.CharField(_("note"), max_length=300, blank=True)
    source = models.TextField(_("source"), blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["park", "stage", "enterprise"]
        verbose_name = _("presence in a park")
        verbose_name_plural = _("presences in parks")
        constraints = [models.UniqueConstraint(fields=["enterprise", "park", "stage"], name="presence_unique")]
        indexes = [
            # The gap analysis counts and samples presences per park and stage from the
            # indexes alone (index-only scans): per cell, newest last (``id``) …
            models.Index(fields=["park", "stage", "id"], include=["enterprise"], name="presence_cell_idx"),
            # … and distinct enterprises per stage across a zone's parks.
            models.Index(fields=["stage", "enterprise"], include=["park"], name="presence_stage_enterprise_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise} @ {self.park} · {self.stage.name}"


class Contact(OfficeRecord):
    """A person at an enterprise (personal data; owned by an office)."""

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("enterprise")
    )
    # "name" and "title" of a person read differently from an office's name or a project's
    # title in Chinese (姓名, 职务), hence the context.
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    title = models.CharField(pgettext_lazy("person", "title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    wechat = models.CharField(_("WeChat"), max_length=64, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [_external_id_unique("contact")]
        indexes = [
            models.Index(fields=["office", "updated_at"], name="contact_office_updated_idx"),
            # The partner API pages an office's records in id order (keyset).
            models.Index(fields=["office", "id"], name="contact_office_page_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Interaction(OfficeRecord):
    """A contact with an enterprise: a call, a visit, a meeting…"""

    class Kind(models.TextChoices):
        CALL = "call", _("Phone call")
        VISIT = "visit", _("Visit")
        MEETING = "meeting", _("Meeting")
        EMAIL = "email", _("E-mail")
        EVENT = "event", _("Event")
        WECHAT = "wechat", _("WeChat")
        OTHER = "other", _("Other")

    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.CASCADE, related_name="interactions", verbose_name=_("enterprise")
    )
    # Named by string: a project belongs to recruitment, a higher app.
    project = models.ForeignKey(
        "recruitment.Project",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
        verbose_name=_("project"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("when"))
    summary = models.TextField(_("summary"))
    staff = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="interactions",
        verbose_name=_("our staff"),
    )
    contacts = models.ManyToManyField(Contact, related_name="interactions", blank=True, verbose_name=_("contacts"))
    history = HistoricalRecords(m2m_fields=[contacts])

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        constraints = [_external_id_unique("interaction")]
        indexes = [
            models.Index(fields=["project", "occurred_at"], name="interaction_project_when_idx"),
            models.Index(fields=["enterprise", "occurred_at"], name="interaction_ent_when_idx"),
            models.Index(fields=["office", "updated_at"], name="interaction_office_upd_idx"),
            models.Index(fields=["office", "id"], name="interaction_office_page_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.enterprise} · {self.occurred_at:%Y-%m-%d}"


class RenderedJSONField(models.JSONField):
    """A JSON document kept as written: PostgreSQL ``json``, not ``jsonb``.

    The change feed stores each record as the API rendered it and serves that text
    back unparsed. ``jsonb`` would reorder its keys and cost a parse into its binary
    form on every write and a print on every read; ``json`` keeps the text.
    """

    def db_type(self, connection: Any) -> str | None:
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # psycopg parses ``json`` itself (Django only asks it for jsonb's text).
        return (
            value
            if value is None or not isinstance(value, str)
            else super().from_db_value(value, expression, connection)
        )


class ChangeEntry(models.Model):
    """The latest change of one record, for the partners' change feed.

    One row per record (compacted): each write moves the row to a new position
    ``(txid, seq)``. Readers only return rows whose transaction id is below the
    oldest transaction of this database still running (``HORIZON_SQL``), so a row can never
    appear behind a cursor that a client has already passed, whatever order
    concurrent writers commit in. See ``crm/changes.py``.
    """

    class Op(models.TextChoices):
        UPSERT = "upsert", _("upsert")
        DELETE = "delete", _("delete")

    type = models.CharField(max_length=32)
    object_id = models.UUIDField()
    office = models.ForeignKey(
        Office,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Null: visible to every office (the shared enterprise directory).",
        db_index=False,  # changeentry_office_pos_idx leads with it
    )
    txid = models.BigIntegerField()
    seq = models.BigIntegerField()
    op = models.CharField(max_length=8, choices=Op.choices)
    data = RenderedJSONField(null=True, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["txid", "seq"]
        verbose_name = _("change-feed entry")
        verbose_name_plural = _("change-feed entries")
        constraints = [models.UniqueConstraint(fields=["type", "object_id"], name="changeentry_one_per_record")]
        indexes = [
            models.Index(fields=["txid", "seq"], name="changeentry_position_idx"),
            models.Index(fields=["office", "txid", "seq"], name="changeentry_office_pos_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type}:{self.object_id} {self.op} @ {self.txid}.{self.seq}"
