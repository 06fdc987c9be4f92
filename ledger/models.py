"""The monthly ledger (月报台账) and assessment (考核).

A park office submits each month's ledger; the submission stores the ledger as it
was (``snapshot``) and locks the month. A progress entry recorded later for a
locked month is marked by a :class:`LedgerCorrection` (reason, author, when) and
shows in the office's next submitted report. Evidence files hang on progress
entries. Assessment schemes are data: indicators with a formula in a small safe
language, per-office values (targets, scores) and adjustments (bonuses, deductions).

Months are stored as the first day of the month, as in the landing models.
"""

from __future__ import annotations

from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from django.utils.translation import gettext_lazy as _

from chains.models import TimestampedModel
from crm.models import Office


def _month_first(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=models.Q(month__day=1), name=name)


class LedgerSubmission(models.Model):
    """An office's submitted month: the ledger as it was when submitted. Never changed."""

    id = models.BigAutoField(primary_key=True)
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+", verbose_name=_("office"))
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    submitted_at = models.DateTimeField(_("submitted at"))
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    deadline = models.DateField(_("deadline"))
    late = models.BooleanField(_("late"), default=False)
    snapshot = models.JSONField(_("ledger as submitted"), editable=False)

    class Meta:
        ordering = ["-month", "office"]
        verbose_name = _("submitted monthly ledger 月报")
        verbose_name_plural = _("submitted monthly ledgers 月报")
        constraints = [
            models.UniqueConstraint(fields=["office", "month"], name="ledgersubmission_once_per_month"),
            _month_first("ledgersubmission_month_first_day"),
        ]

    def __str__(self) -> str:
        return f"{self.office} · {self.month:%Y-%m}"


class LedgerCorrection(models.Model):
    """The mark on a progress entry recorded for a month its office had already submitted."""

    id = models.BigAutoField(primary_key=True)
    entry = models.OneToOneField(
        "recruitment.ProgressEntry",
        on_delete=models.PROTECT,
        related_name="ledger_correction",
        verbose_name=_("entry"),
    )
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+", verbose_name=_("office"))
    month = models.DateField(_("locked month"))
    submission = models.ForeignKey(
        LedgerSubmission, on_delete=models.PROTECT, related_name="corrections", verbose_name=_("submission")
    )
    reason = models.TextField(_("reason"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"))
    reported_in = models.DateField(
        _("reported in"), null=True, blank=True, help_text=_("The month of the report that first showed it.")
    )

    class Meta:
        ordering = ["recorded_at"]
        verbose_name = _("correction of a locked month")
        verbose_name_plural = _("corrections of locked months")
        constraints = [
            _month_first("ledgercorrection_month_first_day"),
            models.CheckConstraint(condition=~models.Q(reason=""), name="ledgercorrection_reason_required"),
        ]
        indexes = [models.Index(fields=["office", "reported_in"], name="ledgercorrection_office_idx")]

    def __str__(self) -> str:
        return f"{self.entry} ({self.month:%Y-%m})"


class _EvidenceStorage(LazyObject):
    """The storage evidence files go to: ``STORAGES["evidence"]`` if configured, else the default.

    Resolved on first use and again whenever ``STORAGES`` changes, so a deployment
    (or a test) can point evidence at another backend (an S3-compatible store).
    """

    def _setup(self) -> None:
        from django.core.files.storage import storages

        self._wrapped = storages["evidence"] if "evidence" in settings.STORAGES else storages["default"]


_evidence_storage = _EvidenceStorage()


@receiver(setting_changed)
def _evidence_storage_reset(*, setting: str, **kwargs: object) -> None:
    if setting == "STORAGES":
        _evidence_storage._wrapped = empty


def evidence_storage() -> _EvidenceStorage:
    return _evidence_storage


def evidence_path(instance: EvidenceFile, filename: str) -> str:
    return f"evidence/{instance.office_id}/{instance.entry_id}/{instance.id}"


class EvidenceFile(models.Model):
    """A file proving a funds-in-place or milestone entry (contract scan, licence, permit, transfer slip)."""

    class Kind(models.TextChoices):
        CONTRACT = "contract", _("Contract scan 合同")
        LICENCE = "licence", _("Business licence 营业执照")
        PERMIT = "permit", _("Construction permit 施工许可证")
        BANK_SLIP = "bank_slip", _("Bank transfer slip 银行转账凭证")
        OTHER = "other", _("Other evidence")

    id = models.UUIDField(primary_key=True, editable=False)
    entry = models.ForeignKey(
        "recruitment.ProgressEntry", on_delete=models.PROTECT, related_name="evidence", verbose_name=_("entry")
    )
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="+", verbose_name=_("office"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=evidence_path, storage=evidence_storage, max_length=300)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"))

    class Meta:
        ordering = ["uploaded_at"]
        verbose_name = _("evidence file")
        verbose_name_plural = _("evidence files")
        indexes = [models.Index(fields=["entry"], name="evidence_entry_idx")]

    def __str__(self) -> str:
        return self.name


class AssessmentScheme(TimestampedModel):
    """A yearly assessment scheme (考核方案): indicators, deductions, a cap."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    year = models.PositiveSmallIntegerField(_("year"))
    max_points = models.DecimalField(_("maximum points"), max_digits=8, decimal_places=2, null=True, blank=True)
    late_start_deduction = models.DecimalField(
        _("deduction per project not started on time"), max_digits=6, decimal_places=2, default=0
    )
    missed_report_deduction = models.DecimalField(
        _("deduction per missed monthly report"), max_digits=6, decimal_places=2, default=0
    )
    source = models.CharField(_("source"), max_length=300, blank=True)

    class Meta:
        ordering = ["-year", "code"]
        verbose_name = _("assessment scheme 考核方案")
        verbose_name_plural = _("assessment schemes 考核方案")

    def __str__(self) -> str:
        return f"{self.year} {self.name}"


class SchemeIndicator(models.Model):
    """One indicator: its points are ``formula`` over the office's figures, values and targets."""

    scheme = models.ForeignKey(
        AssessmentScheme, on_delete=models.CASCADE, related_name="indicators", verbose_name=_("scheme")
    )
    code = models.SlugField(_("code"), max_length=60)
    name = models.CharField(_("name"), max_length=200)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    formula = models.TextField(
        _("formula"),
        help_text=_("Numbers, names, + - * /, parentheses, min() and max(). Example: 30 * new_big / target_new_big"),
    )

    class Meta:
        ordering = ["scheme", "order", "code"]
        verbose_name = _("indicator")
        verbose_name_plural = _("indicators")
        constraints = [models.UniqueConstraint(fields=["scheme", "code"], name="indicator_code_once_per_scheme")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from ledger.formula import FormulaError, formula_parse

        try:
            formula_parse(self.formula)
        except FormulaError as exc:
            raise ValidationError({"formula": ValidationError(str(exc), code="formula")}) from exc


class SchemeValue(models.Model):
    """A named value for one office in a scheme: a target, or a score given by hand (industry fit, peers)."""

    scheme = models.ForeignKey(
        AssessmentScheme, on_delete=models.CASCADE, related_name="values", verbose_name=_("scheme")
    )
    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="+", verbose_name=_("office"))
    name = models.SlugField(_("name"), max_length=60)
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=4)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        ordering = ["scheme", "office", "name"]
        verbose_name = _("target or score")
        verbose_name_plural = _("targets and scores")
        constraints = [models.UniqueConstraint(fields=["scheme", "office", "name"], name="schemevalue_once")]

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"


class SchemeAdjustment(models.Model):
    """A bonus (positive) or a deduction (negative) for one office, with its reason."""

    scheme = models.ForeignKey(
        AssessmentScheme, on_delete=models.CASCADE, related_name="adjustments", verbose_name=_("scheme")
    )
    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="+", verbose_name=_("office"))
    points = models.DecimalField(_("points"), max_digits=8, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=300)

    class Meta:
        ordering = ["scheme", "office"]
        verbose_name = _("bonus or deduction")
        verbose_name_plural = _("bonuses and deductions")

    def __str__(self) -> str:
        return f"{self.points:+} {self.reason}"
