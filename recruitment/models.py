"""The recruitment pipeline: projects, their status history, follow-ups and reminder deliveries."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from chains.models import Park, Stage, TimestampedModel, new_id
from crm.models import Enterprise, OfficeRecord, _external_id_unique
from recruitment.pipeline import CLOSED, Status


class ChainRole(models.TextChoices):
    FILL = "fill", _("Fill a gap 补链")
    STRENGTHEN = "strengthen", _("Strengthen 强链")
    EXTEND = "extend", _("Extend 延链")


class Priority(models.TextChoices):
    HIGH = "high", _("High")
    NORMAL = "normal", _("Normal")
    LOW = "low", _("Low")


def _money(verbose: str) -> models.DecimalField:
    return models.DecimalField(
        verbose, max_digits=18, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )


MONEY_FIELDS = ("planned_investment", "signed_amount", "funds_in_place", "expected_output_value")


class Project(OfficeRecord):
    """A recruitment project (招商项目): an enterprise, a target park and the stages it would fill."""

    Status = Status

    title = models.CharField(_("title"), max_length=200)
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.PROTECT, related_name="projects", verbose_name=_("enterprise")
    )
    park = models.ForeignKey(Park, on_delete=models.PROTECT, related_name="projects", verbose_name=_("target park"))
    stages = models.ManyToManyField(Stage, related_name="projects", verbose_name=_("target stages"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_projects",
        verbose_name=_("owner"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.LEAD, editable=False)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True, editable=False)
    lost_reason = models.TextField(_("reason lost"), blank=True, editable=False)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    chain_role = models.CharField(_("chain role"), max_length=16, choices=ChainRole.choices, blank=True)
    chain_role_overridden = models.BooleanField(_("chain role set by hand"), default=False)
    planned_investment = _money(_("planned investment (CNY) 拟投金额"))
    signed_amount = _money(_("signed amount (CNY) 签约额"))
    funds_in_place = _money(_("funds in place (CNY) 到位资金"))
    expected_output_value = _money(_("expected annual output value (CNY)"))
    expected_jobs = models.PositiveIntegerField(_("expected jobs"), null=True, blank=True)
    description = models.TextField(_("description"), blank=True)
    is_demo = models.BooleanField(_("illustrative (demo) data"), default=False)
    # The later of its creation and its latest interaction: a project is stale when this is
    # older than the period. Kept by the database on PostgreSQL (``recruitment/tally.py``),
    # whatever a save writes; empty on SQLite, where staleness is read from the interactions.
    last_touched_at = models.DateTimeField(_("last touched"), null=True, blank=True, editable=False)
    # The history is read by project (its own page) and by office and date (the ledger):
    # its other foreign keys are not indexed, each index a write more for every history
    # row (an import of 100,000 projects writes some 300,000).
    history = HistoricalRecords(
        m2m_fields=[stages], excluded_fields=["last_touched_at"], no_db_index=["enterprise", "park", "owner"]
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("recruitment project")
        verbose_name_plural = _("recruitment projects")
        constraints = [
            _external_id_unique("project"),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="project_status_valid"),
        ] + [
            models.CheckConstraint(
                condition=models.Q(**{f"{f}__isnull": True}) | models.Q(**{f"{f}__gte": 0}),
                name=f"project_{f}_not_negative",
            )
            for f in MONEY_FIELDS
        ]
        indexes = [
            models.Index(fields=["office", "status"], name="project_office_status_idx"),
            # A park's projects by status; a stage's panel on the gap map reads their ids, titles
            # and offices from the index alone (recruitment.gaps.gap_stage_panel).
            models.Index(fields=["park", "status"], include=["id", "title", "office"], name="project_park_listed_idx"),
            models.Index(fields=["updated_at"], name="project_updated_idx"),
            # The dashboard's period ("status changed between"): a range on this column, carrying
            # every column the dashboard counts or filters the period's projects by, so that its
            # grouped totals, its follow-ups' semi-join and its stale list read the range from the
            # index alone rather than visiting a heap page per few projects in it.
            models.Index(
                fields=["status_changed_at"],
                include=[
                    "id",
                    "park",
                    "owner",
                    "office",
                    "status",
                    "created_at",
                    *MONEY_FIELDS,
                    "last_touched_at",
                ],
                name="project_status_changed_idx",
            ),
            # The partner API pages an office's records in id order (keyset).
            models.Index(fields=["office", "id"], name="project_office_page_idx"),
            # The change list: its default order (newest first), for everyone and within an
            # office, and the columns it sorts by (each then newest id first).
            # It carries the period's columns too: the dashboard's stale list walks it oldest
            # first, skipping the projects outside a period without reading their rows.
            models.Index(
                fields=["-created_at", "-id"], include=["status_changed_at", "status"], name="project_created_page_idx"
            ),
            models.Index(fields=["office", "-created_at", "-id"], name="project_office_created_idx"),
            models.Index(fields=["title", "-id"], name="project_title_page_idx"),
            models.Index(fields=["status", "-id"], name="project_status_page_idx"),
            # Filtered by a status, in the default order: without it SQLite's planner reads
            # every project of the status (a tenth of them) and sorts them for a page.
            models.Index(fields=["status", "-created_at", "-id"], name="project_status_created_idx"),
            models.Index(fields=["priority", "-id"], name="project_priority_page_idx"),
            models.Index(fields=["planned_investment", "-id"], name="project_planned_page_idx"),
            models.Index(fields=["signed_amount", "-id"], name="project_signed_page_idx"),
            # The dashboard counts the projects touched within the period (an index-only range).
            models.Index(
                fields=["last_touched_at"], include=["status", "owner", "office", "park"], name="project_touched_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED


class ProjectStatusChange(models.Model):
    """One move of a project through the pipeline: from, to, who, when, why."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="status_changes", verbose_name=_("project")
    )
    from_status = models.CharField(_("from"), max_length=16, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=16, choices=Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed at"))
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["changed_at", "created_at"]
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        indexes = [models.Index(fields=["to_status", "changed_at"], name="statuschange_to_when_idx")]

    def __str__(self) -> str:
        return f"{self.project}: {self.from_status or '∅'} → {self.to_status}"


class FollowUp(OfficeRecord):
    """Something to do for a project by a due time (跟进)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Kind(models.TextChoices):
        RESPOND = "respond", _("Respond (service level)")
        ASSESS = "assess", _("Assess (service level)")
        FEEDBACK = "feedback", _("Give feedback (service level)")
        REPORT = "report", _("Periodic report (service level)")
        MANUAL = "manual", _("Follow-up")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="follow_ups", verbose_name=_("project"))
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
        verbose_name=_("assignee"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    due_at = models.DateTimeField(_("due"))
    note = models.TextField(_("note"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    history = HistoricalRecords(no_db_index=["project", "assignee"])  # read by follow-up only, as a project's

    class Meta:
        ordering = ["due_at"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        constraints = [
            _external_id_unique("followup"),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "done", "cancelled"]), name="followup_status_valid"
            ),
        ]
        indexes = [
            # Only open follow-ups: the due scan's cost follows the number due, not the total.
            models.Index(fields=["due_at"], condition=models.Q(status="open"), name="followup_open_due_idx"),
            models.Index(fields=["assignee", "status", "due_at"], name="followup_assignee_idx"),
            models.Index(fields=["office", "updated_at"], name="followup_office_upd_idx"),
            models.Index(fields=["office", "id"], name="followup_office_page_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.project} · {self.due_at:%Y-%m-%d %H:%M}"


class ReminderDelivery(TimestampedModel):
    """The record that a reminder of a kind was (to be) sent for a due time.

    Claimed in the same transaction that finds the follow-up due, under a unique
    constraint, before anything is sent: two scans, two beats or a retry can never
    produce a second delivery for the same follow-up, kind and due time.
    """

    class Kind(models.TextChoices):
        DUE = "due", _("Due")
        OVERDUE = "overdue", _("Overdue")
        DIGEST = "digest", _("Weekly digest")
        LARGE_PROJECT = "large_project", _("Large project notice")
        WEBHOOK_DISABLED = "webhook_disabled", _("Webhook endpoint disabled")
        ORDER_PLAN = "order_plan", _("Supervision order: correction plan due")
        ORDER_PLAN_LATE = "order_plan_late", _("Supervision order: correction plan overdue")
        ORDER_UNRESOLVED = "order_unresolved", _("Supervision order: resolution overdue")
        LEDGER_DUE = "ledger_due", _("Monthly ledger due")

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WECOM = "wecom", _("WeCom group robot")
        DINGTALK = "dingtalk", _("DingTalk robot")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Not needed any more")

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    follow_up = models.ForeignKey(
        FollowUp,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("follow-up"),
    )
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries", verbose_name=_("project")
    )
    supervision_order = models.ForeignKey(
        "recruitment.SupervisionOrder",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("supervision order"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminder_deliveries",
        verbose_name=_("recipient"),
    )
    due_at = models.DateTimeField(_("for the due time"))
    # Each channel is a delivery of its own: exactly once per channel, retried and shown apart.
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    # The office whose robots get the message (robot channels), or whom a notice is about.
    office = models.ForeignKey(
        "crm.Office",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminder_deliveries",
        verbose_name=_("office"),
    )
    # For notices about something other than a follow-up or project: what to say and where to look.
    note = models.TextField(_("note"), blank=True, default="")
    link = models.CharField(_("admin link"), max_length=500, blank=True, default="")
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    seen_at = models.DateTimeField(_("seen at"), null=True, blank=True)
    # The outbox columns: the database, not the broker, knows what still has to go out.
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(_("claimed by a worker until"), null=True, blank=True, editable=False)
    sent_to = models.TextField(_("sent to"), blank=True, editable=False)

    class Meta:
        ordering = ["-due_at"]
        verbose_name = _("reminder delivery")
        verbose_name_plural = _("reminder deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["follow_up", "kind", "due_at", "channel"],
                condition=models.Q(follow_up__isnull=False),
                name="delivery_once_per_followup_kind_due",
            ),
            models.UniqueConstraint(
                fields=["project", "kind", "channel"],
                condition=models.Q(kind="large_project"),
                name="delivery_once_per_large_project",
            ),
            models.UniqueConstraint(
                fields=["recipient", "kind", "due_at", "channel"],
                condition=models.Q(kind="digest"),
                name="delivery_once_per_digest",
            ),
            models.UniqueConstraint(
                fields=["office", "kind", "due_at", "channel", "link"],
                condition=models.Q(kind="webhook_disabled"),
                name="delivery_once_per_office_notice",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["email", "wecom", "dingtalk"]), name="delivery_channel_valid"
            ),
            # Each step of a supervision order's escalation ladder reaches each person once.
            models.UniqueConstraint(
                fields=["supervision_order", "kind", "recipient", "channel"],
                condition=models.Q(supervision_order__isnull=False),
                name="delivery_once_per_order_step",
            ),
            # A notice to an office's managers before a deadline: each person, and each robot of the
            # office, once per office, kind and deadline.
            models.UniqueConstraint(
                fields=["office", "kind", "due_at", "channel", "recipient"],
                condition=models.Q(kind="ledger_due", recipient__isnull=False),
                name="delivery_once_per_manager_notice",
            ),
            models.UniqueConstraint(
                fields=["office", "kind", "due_at", "channel"],
                condition=models.Q(kind="ledger_due", recipient__isnull=True),
                name="delivery_once_per_manager_notice_robot",
            ),
            # A step reaches an office's group robot once, whoever the step is for (no recipient).
            models.UniqueConstraint(
                fields=["supervision_order", "kind", "channel", "office"],
                condition=models.Q(supervision_order__isnull=False, recipient__isnull=True),
                name="delivery_once_per_order_step_robot",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "sending", "sent", "failed", "skipped"]),
                name="delivery_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "updated_at"], name="delivery_state_idx"),
            # Only unfinished deliveries: the outbox and the sweep stay cheap however many were sent.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["pending", "sending"]),
                name="delivery_unfinished_idx",
            ),
            models.Index(fields=["recipient", "-due_at"], name="delivery_recipient_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def message_id(self) -> str:
        """The e-mail's Message-ID: stable per delivery, so a re-sent copy is recognisably the same e-mail."""
        return f"<reminder.{self.pk}@chain-recruit>"


class MyFollowUp(FollowUp):
    """The signed-in user's own follow-ups, as a page of their own in the admin ("my follow-ups")."""

    class Meta:
        proxy = True
        ordering = ["due_at"]
        verbose_name = _("my follow-up 我的跟进")
        verbose_name_plural = _("my follow-ups 我的跟进")


class OfficeChannel(TimestampedModel):
    """A robot in a chat group of the office (WeCom or DingTalk) that gets its notices as markdown.

    The DingTalk robot's signing secret is sealed at rest (``crm.sealing``): the app
    signs every message with it, so it cannot be stored as a hash.
    """

    office = models.ForeignKey(
        "crm.Office", on_delete=models.CASCADE, related_name="channels", verbose_name=_("office")
    )
    channel = models.CharField(
        _("channel"),
        max_length=16,
        choices=[c for c in ReminderDelivery.Channel.choices if c[0] != ReminderDelivery.Channel.EMAIL],
    )
    url = models.URLField(
        _("robot webhook URL"),
        max_length=1000,
        help_text=_(
            "WeCom: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…; "
            "DingTalk: https://oapi.dingtalk.com/robot/send?access_token=…"
        ),
    )
    secret_sealed = models.TextField(blank=True, default="", editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["office", "channel"]
        verbose_name = _("office chat robot")
        verbose_name_plural = _("office chat robots")
        constraints = [
            models.UniqueConstraint(fields=["office", "channel"], name="office_channel_once"),
            models.CheckConstraint(condition=models.Q(channel__in=["wecom", "dingtalk"]), name="office_channel_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.office} · {self.get_channel_display()}"


class ChannelPreference(TimestampedModel):
    """A person's choice to get (or not) their own reminders on a channel; no row means yes."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel_preferences", verbose_name=_("user")
    )
    channel = models.CharField(_("channel"), max_length=16, choices=ReminderDelivery.Channel.choices)
    enabled = models.BooleanField(_("receive"), default=True)

    class Meta:
        ordering = ["user", "channel"]
        verbose_name = _("channel preference")
        verbose_name_plural = _("channel preferences")
        constraints = [models.UniqueConstraint(fields=["user", "channel"], name="channel_preference_once")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_channel_display()}"


class PipelineTally(models.Model):
    """Running totals of projects for the dashboard, kept by database triggers (PostgreSQL and SQLite).

    Every write to a project, its target stages or its light adds signed rows here
    (``n`` +1 or -1 and the money) in the same transaction, whatever wrote it: the
    services, bulk actions, imports, merges, raw SQL. Rows are only appended, so
    concurrent writers never wait on one another; the dashboard sums them, and a
    periodic compaction folds them into one row per key. ``kind`` "p" counts each
    project once; "c" and "s" count it once per chain and once per sector of its
    stages, "t" once per target stage (the gap analysis' projects per park and stage).
    Dated rows count what depends on the time of reading: "a" an open project by the day
    of its last touch, "f" its open follow-ups by office, assignee and due day; the
    dashboard sums the days before or after a time. See ``recruitment/tally.py``
    (and ``recruitment/tally_sqlite.py``).
    """

    class Kind(models.TextChoices):
        PROJECT = "p", _("project")
        CHAIN = "c", _("chain")
        SECTOR = "s", _("sector")
        STAGE = "t", _("stage")
        LAST_TOUCH = "a", _("last touched")
        FOLLOW_UP = "f", _("follow-up")

    scope = models.CharField(max_length=1, blank=True, default="")  # "", or "c"/"s": the projects of a chain/sector
    scope_id = models.BigIntegerField(null=True)  # that chain or sector
    kind = models.CharField(max_length=1, choices=Kind.choices)
    # The chain, sector or stage (kinds "c", "s" and "t"); the follow-up's office (kind "f").
    ref_id = models.BigIntegerField(null=True)
    office_id = models.BigIntegerField()
    park_id = models.BigIntegerField()
    owner_id = models.BigIntegerField(null=True)  # kinds "p" and "a"; the assignee for "f"
    status = models.CharField(max_length=16)  # blank for the dated kinds
    light = models.CharField(max_length=8, blank=True)
    day = models.DateField(null=True)  # UTC day of the last touch ("a") or of the due time ("f")
    n = models.IntegerField()
    planned = models.DecimalField(max_digits=24, decimal_places=2)
    signed = models.DecimalField(max_digits=24, decimal_places=2)
    funds = models.DecimalField(max_digits=24, decimal_places=2)
    output = models.DecimalField(max_digits=24, decimal_places=2)

    class Meta:
        verbose_name = _("pipeline tally row")
        verbose_name_plural = _("pipeline tally")
        indexes = [
            models.Index(fields=["scope", "scope_id", "office_id"], name="tally_scope_office_idx"),
            # The dashboard reads a scope's undated kinds and the days before a time of the dated.
            models.Index(fields=["scope", "scope_id", "kind", "day"], name="tally_scope_kind_day_idx"),
        ]


# Landing supervision lives in its own module; imported here so Django registers its models.
from recruitment.landing_models import (  # noqa: E402, F401
    Color,
    LightPeriod,
    Milestone,
    MySupervisionOrder,
    PlanInvestment,
    ProgressEntry,
    ProjectLight,
    ProjectPlan,
    RuleSuspension,
    SupervisionOrder,
    SupervisionOrderMove,
    WarningRule,
)
