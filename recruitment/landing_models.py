"""Landing supervision (落地督办): what happens to a project after it is signed.

A signed project carries a landing plan (planned milestone dates and a cumulative
investment schedule by month) and append-only progress entries (investment
completed in a month, funds in place, milestones reached). Warning rules (三色预警)
are data; they give every signed project a light whose history is kept. A red
light opens a supervision order (督办单) that escalates through the reminder outbox.

Months are stored as the first day of the month (``DateField``), so SQL can compare
and group them; the API shows them as ``YYYY-MM``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from chains.models import TimestampedModel, new_id
from crm.models import OfficeRecord, _external_id_unique
from recruitment.models import Project
from recruitment.pipeline import Status

# The landing milestones a plan dates, in order.
LANDING_MILESTONES: tuple[str, ...] = (Status.REGISTERED, Status.CONSTRUCTION, Status.PRODUCTION, Status.AT_CAPACITY)


class Milestone(models.TextChoices):
    REGISTERED = Status.REGISTERED.value, _("Registered 注册")
    CONSTRUCTION = Status.CONSTRUCTION.value, _("Construction started 开工")
    PRODUCTION = Status.PRODUCTION.value, _("In production 投产")
    AT_CAPACITY = Status.AT_CAPACITY.value, _("At capacity 达产")


class Color(models.TextChoices):
    GREEN = "green", _("Green")
    YELLOW = "yellow", _("Yellow")
    RED = "red", _("Red")


def _amount(verbose: str, *, null: bool = True) -> models.DecimalField:
    return models.DecimalField(
        verbose, max_digits=18, decimal_places=2, null=null, blank=null, validators=[MinValueValidator(0)]
    )


class ProjectPlan(TimestampedModel):
    """A project's landing plan: the planned date of each landing milestone (each optional)."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="landing_plan", verbose_name=_("project")
    )
    registered = models.DateField(_("planned registration 计划注册"), null=True, blank=True)
    construction = models.DateField(_("planned construction start 计划开工"), null=True, blank=True)
    production = models.DateField(_("planned production 计划投产"), null=True, blank=True)
    at_capacity = models.DateField(_("planned at capacity 计划达产"), null=True, blank=True)

    class Meta:
        verbose_name = _("landing plan")
        verbose_name_plural = _("landing plans")

    def __str__(self) -> str:
        return str(self.project)


class PlanInvestment(models.Model):
    """One month of a plan's investment schedule: the cumulative amount planned by its end."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="plan_investment", verbose_name=_("project")
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    cumulative = _amount(_("planned cumulative investment (CNY)"), null=False)

    class Meta:
        ordering = ["project", "month"]
        verbose_name = _("planned investment")
        verbose_name_plural = _("planned investment")
        constraints = [
            models.UniqueConstraint(fields=["project", "month"], name="planinvestment_once_per_month"),
            models.CheckConstraint(condition=models.Q(month__day=1), name="planinvestment_month_first_day"),
            models.CheckConstraint(condition=models.Q(cumulative__gte=0), name="planinvestment_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.cumulative}"


class ProgressEntry(OfficeRecord):
    """A dated fact of landing progress. Never changed: a correction is a new entry with a reason.

    ``office`` is always the project's office. An entry that a later entry ``corrects``
    no longer counts; the correction counts in its place.
    """

    class Kind(models.TextChoices):
        INVESTMENT = "investment", _("Investment completed in the month 当月完成投资")
        FUNDS = "funds", _("Funds in place 到位资金")
        MILESTONE = "milestone", _("Milestone reached 节点")

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="progress", verbose_name=_("project"))
    month = models.DateField(_("month"), help_text=_("The first day of the month the entry counts in."))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    amount = _amount(_("amount (CNY)"))
    milestone = models.CharField(_("milestone"), max_length=16, choices=Milestone.choices, blank=True)
    date = models.DateField(_("date"), null=True, blank=True, help_text=_("For a milestone: when it was reached."))
    corrects = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrected_by",
        verbose_name=_("corrects"),
    )
    reason = models.TextField(_("reason"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["project", "month", "recorded_at"]
        verbose_name = _("progress entry")
        verbose_name_plural = _("progress entries")
        constraints = [
            _external_id_unique("progressentry"),
            models.CheckConstraint(
                condition=models.Q(kind__in=["investment", "funds", "milestone"]), name="progress_kind_valid"
            ),
            models.CheckConstraint(condition=models.Q(month__day=1), name="progress_month_first_day"),
            models.CheckConstraint(
                condition=models.Q(amount__isnull=True) | models.Q(amount__gte=0), name="progress_amount_not_negative"
            ),
            # A milestone entry names its milestone and date; an amount entry has an amount.
            models.CheckConstraint(
                condition=(
                    models.Q(kind="milestone", date__isnull=False) & ~models.Q(milestone="")
                    | ~models.Q(kind="milestone") & models.Q(amount__isnull=False, milestone="")
                ),
                name="progress_kind_fields",
            ),
            models.CheckConstraint(
                condition=models.Q(corrects__isnull=True) | ~models.Q(reason=""), name="progress_correction_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "kind", "month"], name="progress_project_kind_idx"),
            models.Index(fields=["office", "month"], name="progress_office_month_idx"),
            models.Index(fields=["office", "id"], name="progress_office_page_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.month:%Y-%m} · {self.get_kind_display()}"


class WarningRule(TimestampedModel):
    """A warning rule (预警规则), edited by the provincial office.

    ``yellow_at`` and ``red_at`` are thresholds in the rule's unit: months for
    milestone, no-progress and streak rules, percentage points for investment.
    A threshold left empty never gives that colour.
    """

    class Kind(models.TextChoices):
        MILESTONE_OVERDUE = "milestone_overdue", _("Milestone overdue (months running)")
        INVESTMENT_BEHIND = "investment_behind", _("Investment behind plan (percentage points)")
        NO_PROGRESS = "no_progress", _("No progress entry (months)")
        YELLOW_STREAK = "yellow_streak", _("Yellow months in a row (months)")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=24, choices=Kind.choices)
    yellow_at = models.DecimalField(_("yellow from"), max_digits=8, decimal_places=2, null=True, blank=True)
    red_at = models.DecimalField(
        _("red from"),
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Investment: red when more than this many points behind; other kinds: from this many months."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    source = models.CharField(_("source"), max_length=200, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("warning rule 预警规则")
        verbose_name_plural = _("warning rules 预警规则")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["milestone_overdue", "investment_behind", "no_progress", "yellow_streak"]),
                name="warningrule_kind_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name


class RuleSuspension(TimestampedModel):
    """A valid reason (正当理由) that suspends one rule for one project until it expires."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="rule_suspensions", verbose_name=_("project")
    )
    rule = models.ForeignKey(WarningRule, on_delete=models.CASCADE, related_name="suspensions", verbose_name=_("rule"))
    reason = models.TextField(_("reason"))
    until = models.DateField(_("valid until"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        ordering = ["-until"]
        verbose_name = _("valid reason")
        verbose_name_plural = _("valid reasons")
        constraints = [models.CheckConstraint(condition=~models.Q(reason=""), name="suspension_reason_required")]
        indexes = [models.Index(fields=["project", "until"], name="suspension_project_idx")]

    def __str__(self) -> str:
        return f"{self.rule} · {self.project} · {self.until}"


class ProjectLight(models.Model):
    """A signed project's light as last computed: colour, since when, and the reasons in words."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="light", verbose_name=_("project")
    )
    color = models.CharField(_("light"), max_length=8, choices=Color.choices)
    since = models.DateField(_("since"))
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("light")
        verbose_name_plural = _("lights")
        constraints = [
            models.CheckConstraint(condition=models.Q(color__in=["green", "yellow", "red"]), name="light_color_valid")
        ]
        indexes = [models.Index(fields=["color", "project"], name="light_color_idx")]

    def __str__(self) -> str:
        return f"{self.project}: {self.color}"


class LightPeriod(models.Model):
    """The history of a project's light: each colour, when it began and when it ended."""

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="light_periods", verbose_name=_("project")
    )
    color = models.CharField(_("light"), max_length=8, choices=Color.choices)
    began = models.DateField(_("began"))
    ended = models.DateField(_("ended"), null=True, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)

    class Meta:
        ordering = ["project", "began", "id"]
        verbose_name = _("light period")
        verbose_name_plural = _("light history")
        constraints = [
            models.UniqueConstraint(
                fields=["project"], condition=models.Q(ended__isnull=True), name="lightperiod_one_current"
            )
        ]

    def __str__(self) -> str:
        return f"{self.project}: {self.color} {self.began} – {self.ended or '…'}"


class OrderStatus(models.TextChoices):
    OPEN = "open", _("Open")
    PLAN_SUBMITTED = "plan_submitted", _("Plan submitted")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_ORDER_STATUSES = ("open", "plan_submitted")


class SupervisionOrder(OfficeRecord):
    """A supervision order (督办单) on a slipping project; ``office`` is the project's office."""

    Status = OrderStatus

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="supervision_orders", verbose_name=_("project")
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="issued_supervision_orders",
        verbose_name=_("issued by"),
    )
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="supervision_orders",
        verbose_name=_("responsible person 责任人"),
    )
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="led_supervision_orders",
        verbose_name=_("responsible leader 责任领导"),
    )
    required = models.TextField(_("what is required"))
    plan_due = models.DateField(_("correction plan due"))
    resolve_due = models.DateField(_("resolution due"))
    status = models.CharField(_("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.OPEN)
    auto = models.BooleanField(_("issued automatically"), default=False, editable=False)
    plan = models.TextField(_("correction plan"), blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("supervision order 督办单")
        verbose_name_plural = _("supervision orders 督办单")
        constraints = [
            _external_id_unique("supervisionorder"),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=OPEN_ORDER_STATUSES),
                name="supervisionorder_one_open_per_project",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values), name="supervisionorder_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(resolve_due__gte=models.F("plan_due")), name="supervisionorder_due_order"
            ),
        ]
        indexes = [
            models.Index(fields=["office", "status"], name="order_office_status_idx"),
            models.Index(fields=["office", "id"], name="order_office_page_idx"),
            models.Index(fields=["responsible", "status"], name="order_responsible_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.get_status_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES


class SupervisionOrderMove(models.Model):
    """One move of a supervision order between states: from, to, who, when, note."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    order = models.ForeignKey(SupervisionOrder, on_delete=models.CASCADE, related_name="moves", verbose_name=_("order"))
    from_status = models.CharField(_("from"), max_length=16, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=16, choices=OrderStatus.choices)
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    moved_at = models.DateTimeField(_("at"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["moved_at"]
        verbose_name = _("order move")
        verbose_name_plural = _("order moves")

    def __str__(self) -> str:
        return f"{self.order}: {self.from_status or '∅'} → {self.to_status}"


class MySupervisionOrder(SupervisionOrder):
    """The signed-in user's open supervision orders, as a page of their own ("my supervision orders")."""

    class Meta:
        proxy = True
        ordering = ["plan_due"]
        verbose_name = _("my supervision order 我的督办")
        verbose_name_plural = _("my supervision orders 我的督办")
