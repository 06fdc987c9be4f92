"""Reads for the pipeline dashboard: every figure managers review, in a fixed number of queries.

The dashboard must not slow down as the pipeline grows, so nothing here loops over
projects: each table is one grouped query whose rows are bounded by reference data
(parks × statuses, chains × statuses, owners), and the rates are derived in Python
from those rows. Tenancy goes through :func:`crm.access.scope_for_user` first, so a
park or partner user's figures count only their office's projects.

The filters translate one-to-one into the query parameters of the admin change
list (:func:`changelist_lookups`), so every figure links to exactly the list of
projects behind it.

Definitions (also shown on the page), all over the projects selected by the filters
and counted by their **current** status, so that each figure equals the list it links to:

* signing rate 签约率 = projects signed or later (signed, registered, construction,
  production, at capacity) / all projects;
* construction-start rate 开工率 = projects that reached construction (construction,
  production, at capacity) / projects signed or later;
* production-start rate 投产率 = projects in production or at capacity / projects signed or later;
* funds-in-place rate 资金到位率 = funds in place / signed amount, both summed over
  projects signed or later.

Suspended and lost projects count in the funnel and in the signing rate's
denominator only: once a project is off the milestone path it no longer counts as
signed, started or producing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections, models
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chains.models import Chain, Park, Sector, Stage, Zone
from crm.access import office_sees_everything, scope_for_user
from crm.models import Interaction, Office
from recruitment import tally
from recruitment.models import FollowUp, PipelineTally, Project
from recruitment.pipeline import CLOSED, MILESTONES, SIGNED_OR_LATER, Status

ZERO = Decimal(0)

CONSTRUCTION_OR_LATER: frozenset[str] = frozenset(MILESTONES[MILESTONES.index(Status.CONSTRUCTION) :])
PRODUCTION_OR_LATER: frozenset[str] = frozenset(MILESTONES[MILESTONES.index(Status.PRODUCTION) :])
BEFORE_SIGNING: frozenset[str] = frozenset(MILESTONES[: MILESTONES.index(Status.SIGNED)])
# Open projects (``Project.is_open``): everything but at capacity and lost.
OPEN: frozenset[str] = frozenset(set(Status.values) - CLOSED)
FUNNEL_ORDER: tuple[str, ...] = (*MILESTONES, Status.SUSPENDED, Status.LOST)

LIST_LIMIT = 20

# A linker turns (model, admin change-list parameters) into a URL, or None when the
# admin cannot show that list; the dashboard itself knows nothing of URLs.
Linker = Callable[[type[models.Model], Mapping[str, str]], "str | None"]


def _no_link(model: type[models.Model], params: Mapping[str, str]) -> str | None:
    return None


def _ordered(statuses: Iterable[str]) -> list[str]:
    return [s for s in FUNNEL_ORDER if s in set(statuses)]


def status_in(statuses: Iterable[str]) -> dict[str, str]:
    """Admin change-list parameter for "status is one of"."""
    return {"status__in": ",".join(_ordered(statuses))}


class PeriodBasis(models.TextChoices):
    STATUS_CHANGED = "status", _("Status changed within the period")
    CREATED = "created", _("Created within the period")


PERIOD_FIELDS = {PeriodBasis.STATUS_CHANGED: "status_changed_at", PeriodBasis.CREATED: "created_at"}


@dataclass(frozen=True)
class DashboardFilters:
    """What the manager chose. ``end`` is inclusive (a whole day)."""

    park: Park | None = None
    chain: Chain | None = None
    sector: Sector | None = None
    office: Office | None = None
    start: date | None = None
    end: date | None = None
    period_basis: str = PeriodBasis.STATUS_CHANGED

    @property
    def is_filtered(self) -> bool:
        return any(v is not None for v in (self.park, self.chain, self.sector, self.office, self.start, self.end))


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def changelist_lookups(filters: DashboardFilters) -> dict[str, Any]:
    """The filters as lookups on Project, named as the admin change list names them.

    ``park``, ``office``, ``stages__chain`` (and ``stages__chain__sector``) are the
    parameters Django admin's list filters produce; the period is a plain date range on
    a field of the project, which the admin accepts as it is.
    """
    lookups: dict[str, Any] = {}
    if filters.park is not None:
        lookups["park__id__exact"] = filters.park.pk
    if filters.chain is not None:
        lookups["stages__chain__id__exact"] = filters.chain.pk
    if filters.sector is not None:
        lookups["stages__chain__sector__id__exact"] = filters.sector.pk
    if filters.office is not None:
        lookups["office__id__exact"] = filters.office.pk
    period_field = PERIOD_FIELDS.get(filters.period_basis, "status_changed_at")
    if filters.start is not None:
        lookups[f"{period_field}__gte"] = _day_start(filters.start)
    if filters.end is not None:
        lookups[f"{period_field}__lt"] = _day_start(filters.end + timedelta(days=1))
    return lookups


def as_params(lookups: Mapping[str, Any]) -> dict[str, str]:
    """Lookups as URL query parameters (ids and ISO datetimes as text)."""
    params: dict[str, str] = {}
    for key, value in lookups.items():
        params[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    return params


def projects_for_dashboard(
    *, user: Any, filters: DashboardFilters, stages: Mapping[int, tuple[int, int]] | None = None
) -> models.QuerySet[Project]:
    """The projects behind every figure: the user's scope narrowed by the filters.

    Chain and sector go through ``Exists`` rather than a join, so a project with two
    stages in one chain is counted once and sums are not doubled. With ``stages``
    (stage id → chain id, sector id, as :func:`dashboard_options` reads them on
    PostgreSQL) the condition names the stage ids themselves: the planner then knows
    how many projects a chain holds (from the link table's statistics) and picks a
    plan that fits, where through a join to the stages it guesses a handful.
    """
    return _projects_in_scope(user=user, filters=filters).filter(*_membership(filters, stages, outer="pk"))


def _projects_in_scope(*, user: Any, filters: DashboardFilters) -> models.QuerySet[Project]:
    """The user's projects narrowed by every filter but the chain and the sector."""
    lookups = changelist_lookups(filters)
    lookups.pop("stages__chain__id__exact", None)
    lookups.pop("stages__chain__sector__id__exact", None)
    return scope_for_user(Project.objects.all(), user=user).filter(**lookups).order_by()


def _membership(filters: DashboardFilters, stages: Mapping[int, tuple[int, int]] | None, *, outer: str) -> list[Exists]:
    """The chain and sector filters as conditions on the project named by ``outer``."""
    through = Project.stages.through
    conditions = []
    for position, group in ((0, filters.chain), (1, filters.sector)):
        if group is None:
            continue
        if stages is not None:
            ids = sorted(stage for stage, groups in stages.items() if groups[position] == group.pk)
            links = through.objects.filter(project_id=OuterRef(outer), stage_id__in=ids)
        elif position == 0:
            links = through.objects.filter(project_id=OuterRef(outer), stage__chain_id=group.pk)
        else:
            links = through.objects.filter(project_id=OuterRef(outer), stage__chain__sector_id=group.pk)
        conditions.append(Exists(links))
    return conditions


def _open_follow_ups(
    *, user: Any, filters: DashboardFilters, stages: Mapping[int, tuple[int, int]] | None, per_row: bool = False
) -> models.QuerySet[FollowUp]:
    """Open follow-ups of the projects of :func:`projects_for_dashboard`.

    The chain and sector conditions apply to the follow-up's project directly, and the
    semi-join on the projects is left out when nothing else narrows them (no scope, no
    filter): the database then reads the follow-ups and the chain's links only.
    ``per_row``: each follow-up's project checked by its key (for a list walked in the
    order of an index, which SQLite would otherwise give up to list every project first).
    """
    follow_ups = scope_for_user(FollowUp.objects.all(), user=user).filter(status=FollowUp.Status.OPEN)
    projects = _projects_in_scope(user=user, filters=filters)
    if projects.query.where:
        if per_row:
            follow_ups = follow_ups.filter(Exists(projects.filter(pk=OuterRef("project_id"))))
        else:
            follow_ups = follow_ups.filter(project_id__in=projects.values("pk"))
    return follow_ups.filter(*_membership(filters, stages, outer="project_id"))


def _open_follow_ups_due_today(
    *, user: Any, filters: DashboardFilters, stages: Mapping[int, tuple[int, int]] | None, now: datetime
) -> models.QuerySet[FollowUp]:
    """Open follow-ups due today (UTC) before ``now`` (no period filter: the tally answers),
    with ``in_projects``: whether the follow-up's project is one of
    :func:`projects_for_dashboard`'s. A day's follow-ups are few: the condition is asked of
    each one's project (an index probe each, as an aggregate's filter it stays that),
    where a semi-join would read every project of the filter."""
    projects = projects_for_dashboard(user=user, filters=filters, stages=stages).filter(pk=OuterRef("project_id"))
    return (
        scope_for_user(FollowUp.objects.all(), user=user)
        .filter(status=FollowUp.Status.OPEN, due_at__gte=_utc_midnight(now.astimezone(UTC).date()), due_at__lt=now)
        .alias(in_projects=Exists(projects))
    )


# --- Figures --------------------------------------------------------------------------


@dataclass
class Amounts:
    """Count and money (yuan) of a set of projects."""

    count: int = 0
    planned_investment: Decimal = ZERO
    signed_amount: Decimal = ZERO
    funds_in_place: Decimal = ZERO
    expected_output_value: Decimal = ZERO

    def add(self, other: Amounts) -> None:
        self.count += other.count
        self.planned_investment += other.planned_investment
        self.signed_amount += other.signed_amount
        self.funds_in_place += other.funds_in_place
        self.expected_output_value += other.expected_output_value


@dataclass
class Rate:
    """``numerator / denominator``; ``value`` is None when there is nothing to divide by."""

    numerator: Decimal | int
    denominator: Decimal | int
    numerator_url: str | None = None
    denominator_url: str | None = None

    @property
    def value(self) -> Decimal | None:
        if not self.denominator:
            return None
        return Decimal(self.numerator) / Decimal(self.denominator)

    @property
    def percent(self) -> str:
        value = self.value
        if value is None:
            return "—"
        return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"

    @property
    def bar_width(self) -> int:
        """Percent for a progress bar, capped at 100 (funds can exceed the signed amount)."""
        value = self.value
        return 0 if value is None else max(0, min(100, int(value * 100)))


@dataclass
class Figures:
    """Amounts of a set of projects by current status, and the rates derived from them."""

    by_status: dict[str, Amounts] = field(default_factory=dict)

    def add(self, status: str, amounts: Amounts) -> None:
        self.by_status.setdefault(status, Amounts()).add(amounts)

    def amounts(self, statuses: Iterable[str] | None = None) -> Amounts:
        total = Amounts()
        for status, amounts in self.by_status.items():
            if statuses is None or status in statuses:
                total.add(amounts)
        return total

    @property
    def total(self) -> Amounts:
        return self.amounts()

    @property
    def signed(self) -> Amounts:
        return self.amounts(SIGNED_OR_LATER)

    @property
    def open_count(self) -> int:
        return self.amounts(OPEN).count

    def signing_rate(self) -> Rate:
        return Rate(self.signed.count, self.total.count)

    def construction_rate(self) -> Rate:
        return Rate(self.amounts(CONSTRUCTION_OR_LATER).count, self.signed.count)

    def production_rate(self) -> Rate:
        return Rate(self.amounts(PRODUCTION_OR_LATER).count, self.signed.count)

    def funds_rate(self) -> Rate:
        signed = self.signed
        return Rate(signed.funds_in_place, signed.signed_amount)


@dataclass
class RateRow:
    key: str
    label: str
    definition: str
    rate: Rate


@dataclass
class FiguresRow:
    """One line of a breakdown (a park, a chain, a sector) with links to its lists."""

    key: str
    label: str
    label_en: str
    figures: Figures
    url: str | None = None
    rates: list[RateRow] = field(default_factory=list)


@dataclass
class FunnelRow:
    status: str
    label: str
    amounts: Amounts
    share: int
    url: str | None = None


@dataclass
class TargetProgress:
    """Expected output value of signed-or-later projects against a target (目标产值)."""

    label: str
    target: Decimal
    achieved: Decimal
    pipeline: Decimal
    rate: Rate
    params: dict[str, str] = field(default_factory=dict)
    achieved_url: str | None = None
    pipeline_url: str | None = None


@dataclass
class WorkloadRow:
    owner_id: int | None
    name: str
    open_projects: int = 0
    open_planned_investment: Decimal = ZERO
    stale_projects: int = 0
    open_follow_ups: int = 0
    overdue_follow_ups: int = 0
    projects_url: str | None = None
    stale_url: str | None = None
    follow_ups_url: str | None = None
    overdue_url: str | None = None


@dataclass
class ListWithTotal:
    """The first rows of a list and how many there are in all."""

    total: int
    rows: list[Any]
    url: str | None = None


@dataclass
class DashboardOptions:
    """Reference rows for the filter choices and the labels of the breakdowns."""

    zones: list[Zone]
    parks: list[Park]
    chains: list[Chain]
    sectors: list[Sector]
    offices: list[Office]
    # Stage id → (chain id, sector id), read with the rest on PostgreSQL (None elsewhere).
    stages: dict[int, tuple[int, int]] | None = None


@dataclass
class Dashboard:
    filters: DashboardFilters
    now: datetime
    stale_after_days: int
    figures: Figures
    funnel: list[FunnelRow]
    rates: list[RateRow]
    by_park: list[FiguresRow]
    by_chain: list[FiguresRow]
    by_sector: list[FiguresRow]
    targets: list[TargetProgress]
    stale: ListWithTotal
    overdue: ListWithTotal
    workload: list[WorkloadRow]
    projects_url: str | None = None
    lights: LightBreakdown | None = None


LIGHT_COLORS: tuple[str, ...] = ("red", "yellow", "green")


@dataclass
class LightRow:
    """Signed projects of one park, chain or owner by light, each count linking to its list."""

    key: str
    label: str
    counts: dict[str, int]
    urls: dict[str, str | None]

    @property
    def cells(self) -> list[tuple[str, int, str | None]]:
        return [(c, self.counts.get(c, 0), self.urls.get(c)) for c in LIGHT_COLORS]


@dataclass
class LightBreakdown:
    totals: LightRow
    by_park: list[LightRow]
    by_chain: list[LightRow]
    by_owner: list[LightRow]

    @property
    def groups(self) -> list[tuple[str, list[LightRow], str]]:
        return [
            (str(_("All signed projects")), [self.totals], "total"),
            (str(_("By park 按园区")), self.by_park, "park"),
            (str(_("By chain 按产业链")), self.by_chain, "chain"),
            (str(_("By owner 按负责人")), self.by_owner, "owner"),
        ]


def _light_breakdown(
    counts: _Counts, *, names: Mapping[int, str], options: DashboardOptions, project_link: Callable[..., str | None]
) -> LightBreakdown:
    """Lights by park, chain and owner, from the grouped counts (no query of its own)."""
    by_park, by_chain = counts.lights_by_park, counts.lights_by_chain
    owners = {
        owner_id: (names.get(owner_id, "") if owner_id is not None else str(_("Nobody")), per_color)
        for owner_id, per_color in counts.lights_by_owner.items()
    }

    def row(key: str, label: str, counts: dict[str, int], **params: str) -> LightRow:
        urls = {c: project_link(**params, light=c) for c in LIGHT_COLORS}
        return LightRow(key=key, label=label, counts=counts, urls=urls)

    totals: dict[str, int] = {}
    for counts in by_park.values():
        for color, n in counts.items():
            totals[color] = totals.get(color, 0) + n
    parks = [
        row(p.code, _label(p)[0], by_park[p.pk], park__id__exact=str(p.pk)) for p in options.parks if p.pk in by_park
    ]
    chains = [
        row(c.code, _label(c)[0], by_chain[c.pk], stages__chain__id__exact=str(c.pk))
        for c in options.chains
        if c.pk in by_chain
    ]
    people = [
        row(
            str(owner_id or ""),
            name,
            counts,
            **({"owner__id__exact": str(owner_id)} if owner_id is not None else {"owner__isnull": "True"}),
        )
        for owner_id, (name, counts) in owners.items()
    ]
    worst_first = lambda r: (-r.counts.get("red", 0), -r.counts.get("yellow", 0), r.key)  # noqa: E731
    return LightBreakdown(
        totals=row("", str(_("All")), totals),
        by_park=sorted(parks, key=worst_first),
        by_chain=sorted(chains, key=worst_first),
        by_owner=sorted(people, key=worst_first),
    )


def dashboard_options(*, user: Any) -> DashboardOptions:
    """Reference data for filters and labels; offices only for users who see every office.

    On PostgreSQL the five tables come in one statement (each as a JSON array in its
    order), elsewhere one query each; the rows are the same model instances either way.
    """
    office = getattr(user, "office", None)
    sees_all = office_sees_everything(office, is_superuser=getattr(user, "is_superuser", False))
    if connections[Zone.objects.db].vendor == "postgresql":
        return _options_in_one_statement(sees_all=sees_all)
    if connections[Zone.objects.db].vendor == "sqlite":
        return _options_in_one_statement_sqlite(sees_all=sees_all)
    return DashboardOptions(
        zones=list(Zone.objects.order_by("code")),
        parks=list(Park.objects.order_by("code")),
        chains=list(Chain.objects.select_related("sector").order_by("sector__code", "code")),
        sectors=list(Sector.objects.order_by("code")),
        offices=list(Office.objects.order_by("code")) if sees_all else [],
    )


def _instances(model: type[models.Model], rows: list[dict[str, Any]] | None, *, using: str) -> list[Any]:
    """Model instances from rows as the database's JSON writes them (keys are column names);
    SQLite's datetimes, text there, through the backend's own converter."""
    connection = connections[using]
    fields = model._meta.concrete_fields
    names = [f.attname for f in fields]

    def value(field: models.Field, raw: Any) -> Any:
        if connection.vendor == "sqlite" and isinstance(field, models.DateTimeField):
            raw = connection.ops.convert_datetimefield_value(raw, None, connection)
        return field.to_python(raw)

    return [
        model.from_db(using, names, [value(f, row[f.column]) for f in fields])  # type: ignore[misc]
        for row in rows or ()
    ]


def _options_in_one_statement(*, sees_all: bool) -> DashboardOptions:
    tables = {m: m._meta.db_table for m in (Zone, Park, Chain, Sector, Office)}
    using = Zone.objects.db
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (SELECT json_agg(z ORDER BY z.code) FROM {tables[Zone]} z)::text,
                   (SELECT json_agg(p ORDER BY p.code) FROM {tables[Park]} p)::text,
                   (SELECT json_agg(c ORDER BY s.code, c.code)
                    FROM {tables[Chain]} c JOIN {tables[Sector]} s ON s.id = c.sector_id)::text,
                   (SELECT json_agg(s ORDER BY s.code) FROM {tables[Sector]} s)::text,
                   (SELECT json_agg(o ORDER BY o.code) FROM {tables[Office]} o WHERE %s)::text,
                   (SELECT json_agg(json_build_array(t.id, t.chain_id, c.sector_id))
                    FROM {Stage._meta.db_table} t JOIN {tables[Chain]} c ON c.id = t.chain_id)::text
            """,
            [sees_all],
        )
        zones, parks, chains, sectors, offices, stages = (
            json.loads(value, parse_float=Decimal) if value else None for value in cursor.fetchone()
        )
    options = DashboardOptions(
        zones=_instances(Zone, zones, using=using),
        parks=_instances(Park, parks, using=using),
        chains=_instances(Chain, chains, using=using),
        sectors=_instances(Sector, sectors, using=using),
        offices=_instances(Office, offices, using=using),
        stages={stage: (chain, sector) for stage, chain, sector in stages or ()},
    )
    sector_by_id = {sector.pk: sector for sector in options.sectors}
    for chain in options.chains:
        chain.sector = sector_by_id[chain.sector_id]
    return options


def _options_in_one_statement_sqlite(*, sees_all: bool) -> DashboardOptions:
    """:func:`dashboard_options`' five tables in one statement on SQLite: each as a JSON
    array of objects keyed by column (``json_group_array`` over the ordered rows), the
    values made Python ones as the backend's converters make them."""
    using = Zone.objects.db
    connection = connections[using]

    def array(model: type[models.Model], alias: str, rest: str) -> str:
        pairs = ", ".join(f"'{f.column}', {alias}.\"{f.column}\"" for f in model._meta.concrete_fields)
        return f"(SELECT json_group_array(json(row)) FROM (SELECT json_object({pairs}) AS row {rest}))"

    tables = {m: m._meta.db_table for m in (Zone, Park, Chain, Sector, Office)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT "
            + ", ".join(
                (
                    array(Zone, "z", f"FROM {tables[Zone]} z ORDER BY z.code"),
                    array(Park, "p", f"FROM {tables[Park]} p ORDER BY p.code"),
                    array(
                        Chain,
                        "c",
                        f"FROM {tables[Chain]} c JOIN {tables[Sector]} s ON s.id = c.sector_id ORDER BY s.code, c.code",
                    ),
                    array(Sector, "s", f"FROM {tables[Sector]} s ORDER BY s.code"),
                    array(Office, "o", f"FROM {tables[Office]} o WHERE %s ORDER BY o.code"),
                )
            ),
            [sees_all],
        )
        zones, parks, chains, sectors, offices = (json.loads(value, parse_float=Decimal) for value in cursor.fetchone())

    options = DashboardOptions(
        zones=_instances(Zone, zones, using=using),
        parks=_instances(Park, parks, using=using),
        chains=_instances(Chain, chains, using=using),
        sectors=_instances(Sector, sectors, using=using),
        offices=_instances(Office, offices, using=using),
    )
    sector_by_id = {sector.pk: sector for sector in options.sectors}
    for chain in options.chains:
        chain.sector = sector_by_id[chain.sector_id]
    return options


_MONEY = {
    "planned": "planned_investment",
    "signed": "signed_amount",
    "funds": "funds_in_place",
    "output": "expected_output_value",
}


def _amounts(row: Mapping[str, Any]) -> Amounts:
    return Amounts(
        count=row["n"],
        planned_investment=row["planned"] or ZERO,
        signed_amount=row["signed"] or ZERO,
        funds_in_place=row["funds"] or ZERO,
        expected_output_value=row["output"] or ZERO,
    )


# The columns of a grouped row, from the tally or counted from the tables.
_ROW = ("kind", "ref_id", "park_id", "owner_id", "status", "light", "n", "planned", "signed", "funds", "output")


def _rows_from_tables(base: models.QuerySet[Project], *, now: datetime) -> Iterable[tuple[Any, ...]]:
    """The tally's rows counted from the projects of ``base`` (and their stages), in one
    statement: the projects by park, owner, status and light ("p"), and each distinct
    (project, chain) and (project, sector) pair by status and light ("c", "s"), so that a
    project with two stages in one chain counts once there and sums are never doubled;
    and the stale projects by owner ("a", :func:`_stale_rows`), read with the others
    rather than by a second pass over the same projects in :func:`_workload`.
    """
    through = Project.stages.through._meta.db_table
    stage, chain = Stage._meta.db_table, Chain._meta.db_table
    columns = ("pk", "park_id", "owner_id", "status", "light__color", *_MONEY.values(), "last_touched_at")
    try:
        selected, params = base.values_list(*columns).query.sql_with_params()
    except EmptyResultSet:  # a queryset that is empty whatever the data (``.none()``)
        return []
    stale_sql, stale_params = _stale_rows(now=now, using=base.db)
    if connections[base.db].vendor == "sqlite":
        return _rows_from_tables_sqlite(selected, (*params, *stale_params), stale_sql, using=base.db)
    money = "SUM(planned), SUM(signed), SUM(funds), SUM(output)"
    # Each stage link carries its project's columns (one join of the links to the projects),
    # so that a project counts once per chain and sector by a DISTINCT over those rows, with
    # nothing joined back to the projects by their key: 190 -> 100 ms for 16,500 projects.
    # The links are joined to the selected projects themselves, not to ``b``: the planner
    # knows their ids are unique and hashes the projects (16,500), where from a CTE, whose
    # columns it has no statistics of, it hashed every stage link (150,000, spilling to
    # disk). For H1 2026 on the bench copy, for a second read of the projects: 68.5 -> 65.3 ms
    # (medians of 15 runs alternating in one connection).
    carried = "status, light, planned, signed, funds, output"
    columns = "id, park_id, owner_id, status, light, planned, signed, funds, output, touched"
    sql = f"""
        WITH b ({columns}) AS MATERIALIZED (
            SELECT id, park_id, owner_id, status, COALESCE(light, ''), planned, signed, funds, output, touched
            FROM ({selected}) selected ({columns})
        ), g AS MATERIALIZED (
            SELECT p.id, s.chain_id, c.sector_id, p.status, COALESCE(p.light, '') AS light, p.planned, p.signed, p.funds, p.output
            FROM ({selected}) p ({columns})
            JOIN {through} t ON t.project_id = p.id JOIN {stage} s ON s.id = t.stage_id
            JOIN {chain} c ON c.id = s.chain_id
        )
        SELECT 'p', NULL, park_id, owner_id, status, light, COUNT(*), {money}
        FROM b GROUP BY park_id, owner_id, status, light
        UNION ALL
        SELECT 'c', chain_id, NULL, NULL, status, light, COUNT(*), {money}
        FROM (SELECT DISTINCT id, chain_id, {carried} FROM g) g GROUP BY chain_id, status, light
        UNION ALL
        SELECT 's', sector_id, NULL, NULL, status, light, COUNT(*), {money}
        FROM (SELECT DISTINCT id, sector_id, {carried} FROM g) g GROUP BY sector_id, status, light
        UNION ALL
        {stale_sql}
    """
    with connections[base.db].cursor() as cursor:
        cursor.execute(sql, (*params, *params, *stale_params))
        rows = cursor.fetchall()
    # SQLite sums money as floats: made decimals as the ORM makes a Sum of decimals there.
    as_decimal = Context(prec=15).create_decimal_from_float
    return [(*row[:7], *(v if v is None or isinstance(v, Decimal) else as_decimal(v) for v in row[7:])) for row in rows]


def _stale_rows(*, now: datetime, using: str) -> tuple[str, tuple[Any, ...]]:
    """The part of :func:`_rows_from_tables` that counts the stale projects of ``b`` by
    owner ("a" rows, as the tally's dated rows are read): open and not touched since the
    cutoff. A project's last touch (the later of its creation and its latest interaction,
    kept by the database's triggers) says it as :func:`stale_projects` does; a project
    without one counts as stale, as in :func:`_stale_by_owner`'s "open − touched"."""
    statuses = sorted(OPEN)
    cutoff = connections[using].ops.adapt_datetimefield_value(_stale_cutoff(now))
    sql = f"""SELECT 'a', NULL, NULL, owner_id, NULL, NULL, COUNT(*), NULL, NULL, NULL, NULL
        FROM b WHERE status IN ({", ".join(["%s"] * len(statuses))}) AND NOT COALESCE(touched > %s, FALSE)
        GROUP BY owner_id"""
    return sql, (*statuses, cutoff)


def _rows_from_tables_sqlite(selected: str, params: Any, stale_sql: str, *, using: str) -> list[tuple[Any, ...]]:
    """:func:`_rows_from_tables` for SQLite: the same rows in one statement that reads
    the projects once and each of their stage links once.

    SQLite's planner, given the join of the distinct (project, chain) pairs back to the
    projects, may loop over every project for every pair. Here the selected projects
    are materialised once and drive the join to their links (the link table's index
    on the project); each link carries its project's columns and whether it is the
    project's first link (lowest stage id) in its chain and in its sector, an index
    probe among the project's own links, so a project counts once per chain and
    sector without a DISTINCT over every pair.
    """
    through = Project.stages.through._meta.db_table
    stage, chain = Stage._meta.db_table, Chain._meta.db_table
    money = "SUM(planned), SUM(signed), SUM(funds), SUM(output)"
    earlier = f"""SELECT 1 FROM {through} u JOIN {stage} v ON v.id = u.stage_id
                  WHERE u.project_id = t.project_id AND u.stage_id < t.stage_id"""
    sql = f"""
        WITH selected (id, park_id, owner_id, status, light, planned, signed, funds, output, touched) AS (
            {selected}
        ), b AS MATERIALIZED (
            SELECT id, park_id, owner_id, status, COALESCE(light, '') AS light, planned, signed, funds, output, touched
            FROM selected
        ), g AS MATERIALIZED (
            SELECT s.chain_id, c.sector_id, b.status, b.light, b.planned, b.signed, b.funds, b.output,
                   NOT EXISTS ({earlier} AND v.chain_id = s.chain_id) AS first_in_chain,
                   NOT EXISTS (
                       {earlier} AND v.chain_id IN (SELECT w.id FROM {chain} w WHERE w.sector_id = c.sector_id)
                   ) AS first_in_sector
            FROM b CROSS JOIN {through} t ON t.project_id = b.id
            JOIN {stage} s ON s.id = t.stage_id JOIN {chain} c ON c.id = s.chain_id
        )
        SELECT 'p', NULL, park_id, owner_id, status, light, COUNT(*), {money}
        FROM b GROUP BY park_id, owner_id, status, light
        UNION ALL
        SELECT 'c', chain_id, NULL, NULL, status, light, COUNT(*), {money}
        FROM g WHERE first_in_chain GROUP BY chain_id, status, light
        UNION ALL
        SELECT 's', sector_id, NULL, NULL, status, light, COUNT(*), {money}
        FROM g WHERE first_in_sector GROUP BY sector_id, status, light
        UNION ALL
        {stale_sql}
    """
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    as_decimal = Context(prec=15).create_decimal_from_float
    return [(*row[:7], *(v if v is None or isinstance(v, Decimal) else as_decimal(v) for v in row[7:])) for row in rows]


@dataclass
class _Counts:
    """The grouped totals behind the figures, read from the tally or counted from the tables."""

    by_park: dict[int, Figures] = field(default_factory=dict)
    by_chain: dict[int, Figures] = field(default_factory=dict)
    by_sector: dict[int, Figures] = field(default_factory=dict)
    open_by_owner: dict[int | None, Amounts] = field(default_factory=dict)
    lights_by_park: dict[int, dict[str, int]] = field(default_factory=dict)
    lights_by_chain: dict[int, dict[str, int]] = field(default_factory=dict)
    lights_by_owner: dict[int | None, dict[str, int]] = field(default_factory=dict)
    # From the tally's dated rows only (``dated``): open projects last touched before the day
    # of the stale cutoff, by owner; open follow-ups by assignee (all, and those due before today).
    dated: bool = False
    stale_by_owner: dict[int | None, int] = field(default_factory=dict)
    # Counted from the tables (``_rows_from_tables``): ``stale_by_owner`` holds every stale project.
    stale_counted: bool = False
    follow_ups_by_assignee: dict[int | None, tuple[int, int]] = field(default_factory=dict)


def _counts(rows: Iterable[tuple[Any, ...]]) -> _Counts:
    """The figures from grouped rows (``_ROW``): by park and status, by chain, by sector,
    open projects by owner, lights by park, owner and chain."""
    counts = _Counts()
    for values in rows:
        row = dict(zip(_ROW, values, strict=True))
        if not row["n"]:
            continue  # tally rows that cancel out (not compacted yet)
        amounts, light, status = _amounts(row), row["light"], row["status"]
        if row["kind"] == PipelineTally.Kind.PROJECT:
            counts.by_park.setdefault(row["park_id"], Figures()).add(status, amounts)
            if status in OPEN:
                counts.open_by_owner.setdefault(row["owner_id"], Amounts()).add(amounts)
            if light:
                per_park = counts.lights_by_park.setdefault(row["park_id"], {})
                per_park[light] = per_park.get(light, 0) + amounts.count
                per_owner = counts.lights_by_owner.setdefault(row["owner_id"], {})
                per_owner[light] = per_owner.get(light, 0) + amounts.count
        elif row["kind"] == PipelineTally.Kind.CHAIN:
            counts.by_chain.setdefault(row["ref_id"], Figures()).add(status, amounts)
            if light:
                per_chain = counts.lights_by_chain.setdefault(row["ref_id"], {})
                per_chain[light] = per_chain.get(light, 0) + amounts.count
        elif row["kind"] == PipelineTally.Kind.SECTOR:
            counts.by_sector.setdefault(row["ref_id"], Figures()).add(status, amounts)
        elif row["kind"] == PipelineTally.Kind.LAST_TOUCH:
            counts.stale_by_owner[row["owner_id"]] = counts.stale_by_owner.get(row["owner_id"], 0) + row["n"]
        elif row["kind"] in (PipelineTally.Kind.FOLLOW_UP, _OVERDUE):
            n, overdue = counts.follow_ups_by_assignee.get(row["owner_id"], (0, 0))
            overdue += row["n"] if row["kind"] == _OVERDUE else 0
            counts.follow_ups_by_assignee[row["owner_id"]] = (n + row["n"], overdue)
    return counts


def _tally_lookups(*, user: Any, filters: DashboardFilters, using: str) -> dict[str, Any] | None:
    """The tally rows behind ``filters`` for ``user``, or None when the tally cannot answer.

    The tally is keyed by office and park, and each project counts under the scope of
    every chain and sector of its stages, so it answers the dashboard unfiltered or
    filtered by office, park, chain or sector (a chain and a sector together when the
    chain is in that sector); a period needs the projects themselves, as does a chain
    with a sector it is not in. The office scope is :func:`crm.access.scope_for_office`'s
    rule: every office for a provincial user (or a superuser without an office), else
    their own.
    """
    if not tally.available(using) or filters.start is not None or filters.end is not None:
        return None
    if user is None or not user.is_authenticated:
        return None  # the projects' queryset is empty already
    lookups: dict[str, Any] = {"scope": "", "scope_id__isnull": True}
    if filters.chain is not None:
        if filters.sector is not None and filters.sector.pk != filters.chain.sector_id:
            return None
        lookups = {"scope": PipelineTally.Kind.CHAIN, "scope_id": filters.chain.pk}
    elif filters.sector is not None:
        lookups = {"scope": PipelineTally.Kind.SECTOR, "scope_id": filters.sector.pk}
    office = getattr(user, "office", None)
    if not office_sees_everything(office, is_superuser=user.is_superuser):
        if office is None:
            return None
        lookups["office_id"] = office.pk
        lookups[_FOLLOW_UPS_OFFICE] = office.pk  # the follow-ups' own office too
    if filters.office is not None:
        if lookups.get("office_id", filters.office.pk) != filters.office.pk:
            return None  # another office than one's own: nothing, as the projects' queryset says
        lookups["office_id"] = filters.office.pk
    if filters.park is not None:
        lookups["park_id"] = filters.park.pk
    return lookups


# The lookup of :func:`_tally_lookups` that names the follow-ups' own office (kind "f" rows).
_FOLLOW_UPS_OFFICE = "follow_ups_office"
# Open follow-ups due before today, as :func:`_rows_from_tally` names their rows.
_OVERDUE = "o"


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _stale_cutoff(now: datetime) -> datetime:
    return now - timedelta(days=settings.RECRUITMENT_STALE_AFTER_DAYS)


def _rows_from_tally(lookups: Mapping[str, Any], *, using: str, now: datetime) -> Iterable[tuple[Any, ...]]:
    """One grouped query over the tally rows of a scope (rows bounded by parks × owners ×
    statuses × lights, and chains or sectors × statuses × lights: the park of a chain's or
    sector's row is not read, so its parks come summed), and its dated rows: open projects
    by owner last touched before the day (UTC) of the stale cutoff ("a": stale whatever the
    hour), open follow-ups by assignee due today or later ("f") and before today ("o"). What
    falls on the day of the cutoff or on today itself is counted by :func:`_workload` from
    the tables. Compaction folds only days older than any cutoff read here
    (``tally._keep``)."""
    K = PipelineTally.Kind
    lookups = dict(lookups)
    follow_ups = {"ref_id": lookups.pop(_FOLLOW_UPS_OFFICE)} if _FOLLOW_UPS_OFFICE in lookups else {}
    today = now.astimezone(UTC).date()
    row_kind = models.Case(
        models.When(kind=K.FOLLOW_UP, day__lt=today, then=models.Value(_OVERDUE)),
        default=models.F("kind"),
        output_field=models.CharField(),
    )
    row_ref = models.Case(
        models.When(kind__in=[K.CHAIN, K.SECTOR], then=models.F("ref_id")), output_field=models.BigIntegerField()
    )
    project_park = models.Case(
        models.When(kind=K.PROJECT, then=models.F("park_id")), output_field=models.BigIntegerField()
    )
    return (
        PipelineTally.objects.using(using)
        .filter(**lookups)
        .filter(
            Q(kind__in=[K.PROJECT, K.CHAIN, K.SECTOR])
            | Q(kind=K.LAST_TOUCH, day__lt=_stale_cutoff(now).astimezone(UTC).date())
            | Q(kind=K.FOLLOW_UP, **follow_ups)
        )
        .values("owner_id", "status", "light", row_kind=row_kind, row_ref=row_ref, row_park=project_park)
        .annotate(n=Sum("n"), planned=Sum("planned"), signed=Sum("signed"), funds=Sum("funds"), output=Sum("output"))
        .values_list("row_kind", "row_ref", "row_park", *_ROW[3:])
        .order_by()
    )


def stale_projects(qs: models.QuerySet[Project], *, now: datetime) -> models.QuerySet[Project]:
    """Open projects of ``qs`` with no interaction for ``RECRUITMENT_STALE_AFTER_DAYS`` days.

    The same rule as the weekly digest: an interaction counts when it is logged
    against the project, and a project younger than the period is not stale yet.
    """
    return qs.filter(status__in=OPEN).filter(_stale_condition(now))


def _stale_condition(now: datetime) -> Q:
    """An open project is stale when it is older than the period and no interaction
    was logged on it within the period."""
    cutoff = now - timedelta(days=settings.RECRUITMENT_STALE_AFTER_DAYS)
    recent = Interaction.objects.filter(project_id=OuterRef("pk"), occurred_at__gt=cutoff)
    return Q(created_at__lte=cutoff) & ~Q(Exists(recent))


_USER_NAME_FIELDS = ("display_name", "first_name", "last_name", "username")  # User.__str__
_STALE_ROW_FIELDS = ("title", "status", "created_at", "park__name", *(f"owner__{f}" for f in _USER_NAME_FIELDS))
_OVERDUE_ROW_FIELDS = ("due_at", "note", "project__title", *(f"assignee__{f}" for f in _USER_NAME_FIELDS))


def stale_list(qs: models.QuerySet[Project], *, now: datetime, limit: int = LIST_LIMIT) -> list[Project]:
    """The ``limit`` stale projects of ``qs`` longest without contact (never contacted
    first, then by their last interaction, then oldest), each with ``last_interaction_at``.

    The ids come first, without the joins of the rows, in two parts of one statement:
    the projects never contacted, oldest first (the creation order's index, stopping
    at ``limit``), then the others by their last interaction. PostgreSQL reads the
    second part only when the first leaves room, so with enough projects never
    contacted the cost does not grow with the table. The rows of those ids are read
    in the same statement (PostgreSQL) or after them.
    """
    stale = stale_projects(qs.order_by(), now=now)
    touched = Interaction.objects.filter(project_id=OuterRef("pk"))
    last_touch = Subquery(touched.order_by("-occurred_at").values("occurred_at")[:1])
    never = (
        stale.filter(~Exists(touched))
        .annotate(last=models.Value(None, output_field=models.DateTimeField()))
        .order_by("created_at", "pk")
        .values_list("pk", "last")
    )
    since = (
        stale.filter(Exists(touched))
        .annotate(last=last_touch)
        .order_by("last", "created_at", "pk")
        .values_list("pk", "last")
    )
    # The columns the dashboard shows (and the order above needs), nothing else: a row
    # of every column of four tables costs more to build than the statement to read.
    rows = Project.objects.select_related("owner", "park").only(*_STALE_ROW_FIELDS).order_by()
    if connections[qs.db].features.supports_slicing_ordering_in_compound:
        # One statement: the rows of those ids, each with its last interaction (none for
        # the never contacted), put in the order of the two parts here.
        ids = never.values_list("pk")[:limit].union(since.values_list("pk")[:limit], all=True)[:limit]
        ids_in: Any = ids
        if not qs.query.distinct:
            # Compiled once, as it is: as a queryset the union is copied and resolved again
            # into the outer query (a third of the list's Python). A DISTINCT scope's parts
            # also select their order's columns, which only the ORM's nesting takes out.
            try:
                ids_in = RawSQL(*ids.query.sql_with_params())
            except EmptyResultSet:
                return []
        result = list(rows.filter(pk__in=ids_in).annotate(last_interaction_at=last_touch))
        result.sort(
            key=lambda p: (p.last_interaction_at is not None, p.last_interaction_at or p.created_at, p.created_at, p.pk)
        )
        return result
    # SQLite: both parts in one statement (each sliced inside its own subquery), then the rows.
    connection = connections[qs.db]
    try:
        (never_sql, never_params), (since_sql, since_params) = (
            part[:limit].query.sql_with_params() for part in (never, since)
        )
    except EmptyResultSet:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            # The outer limit stops SQLite before the second part when the first fills it.
            f"SELECT * FROM ({never_sql}) UNION ALL SELECT * FROM ({since_sql}) LIMIT {int(limit)}",
            (*never_params, *since_params),
        )
        # A DISTINCT scope's parts also select their order's columns, after these two.
        ids = [
            (Project._meta.pk.to_python(pk), connection.ops.convert_datetimefield_value(last, None, connection))
            for pk, last, *_order in cursor.fetchall()[:limit]
        ]
    by_pk = {p.pk: p for p in rows.filter(pk__in=[i for i, _ in ids])}
    result = []
    for pk, last in ids:
        project = by_pk[pk]
        project.last_interaction_at = last  # type: ignore[attr-defined]
        result.append(project)
    return result


def _user_name(first: str, last: str, display: str, username: str) -> str:
    return display or f"{first} {last}".strip() or username


def _workload(
    *,
    base: models.QuerySet[Project],
    follow_ups: models.QuerySet[FollowUp],
    counts: _Counts,
    now: datetime,
) -> tuple[dict[int | None, WorkloadRow], dict[int, str]]:
    """Open projects (from the counts), stale projects, open and overdue follow-ups per person,
    and everyone's name, in one statement of three parts (the stale and overdue totals are
    their sums):

    * "s": stale projects per owner (:func:`_stale_by_owner`);
    * "f": open follow-ups per assignee and how many are overdue;
    * "u": the names of the owners the counts name and of everyone with an open follow-up.

    With the tally's dated rows (``counts.dated``) the first two count only what the rows
    leave out, a day at most: the open projects last touched on the day (UTC) of the stale
    cutoff but not after it, and the open follow-ups due today (UTC) before ``now``. Counted
    from the tables (``counts.stale_counted``) the stale projects are in the counts already
    and the first part is left out.
    """
    User = get_user_model()
    zero = models.Value(0, output_field=models.IntegerField())
    blank = models.Value("", output_field=models.CharField())
    name_fields = ("first_name", "last_name", "display_name", "username")
    columns = ("part", "person", "n", "overdue", "first", "last", "display", "login")
    # With the tally's dated rows: those due today, counted when their project is in (see
    # :func:`_open_follow_ups_due_today`); else every open follow-up of the projects.
    counted = Q(in_projects=True) if counts.dated else Q()
    assignees = (
        follow_ups.values("assignee_id")
        .annotate(
            part=models.Value("f"),
            person=models.F("assignee_id"),
            n=Count("pk", filter=counted),
            # Those due today before now are all overdue: ``n`` says how many.
            overdue=zero if counts.dated else Count("due_at", filter=Q(due_at__lt=now)),
            first=blank,
            last=blank,
            display=blank,
            login=blank,
        )
        .values_list(*columns)
        .order_by()
    )
    owners = sorted({*counts.open_by_owner, *counts.lights_by_owner} - {None})
    # Anyone with an open follow-up may be an assignee here: an index probe per person
    # (cheaper than joining the names to every follow-up).
    assigned = FollowUp.objects.filter(assignee_id=OuterRef("pk"), status=FollowUp.Status.OPEN)
    owner_names = (
        User.objects.filter(Q(pk__in=owners) | Q(Exists(assigned)))
        .annotate(
            part=models.Value("u"),
            person=models.F("pk"),
            n=zero,
            overdue=zero,
            **{column: models.F(f) for column, f in zip(columns[4:], name_fields, strict=True)},
        )
        .values_list(*columns)
        .order_by()
    )
    parts = [assignees, owner_names]
    if not counts.stale_counted:
        stale_part = _stale_by_owner(base, now=now, cutoff_day_only=counts.dated).annotate(
            part=models.Value("s"), overdue=zero, first=blank, last=blank, display=blank, login=blank
        )
        parts.insert(0, stale_part.values_list(*columns))
    stale: dict[int | None, int] = dict(counts.stale_by_owner) if counts.stale_counted else {}
    by_assignee: dict[int | None, tuple[int, int]] = {}
    names: dict[int, str] = {}
    for part, person, n, overdue, first, last, display, login in parts[0].union(*parts[1:], all=True):
        if part == "s":
            stale[person] = n
            continue
        if person is not None:
            names[person] = _user_name(first or "", last or "", display or "", login or "")
        if part == "f":
            by_assignee[person] = (n, overdue)
    if counts.dated:
        # Last touched before the cutoff's day (the tally) or on it, before the cutoff (here).
        for owner, n in counts.stale_by_owner.items():
            stale[owner] = stale.get(owner, 0) + n
        # Open follow-ups all from the tally; overdue: due before today (the tally) or today.
        today = by_assignee
        by_assignee = {
            person: (n, overdue + today.get(person, (0, 0))[0])
            for person, (n, overdue) in counts.follow_ups_by_assignee.items()
        }
    elif tally.available(base.db) and not counts.stale_counted:
        # Counted as touched within the period: stale = open − touched.
        stale = {owner: amounts.count - stale.get(owner, 0) for owner, amounts in counts.open_by_owner.items()}
    rows: dict[int | None, WorkloadRow] = {}

    def row_for(person: int | None) -> WorkloadRow:
        if person not in rows:
            name = names.get(person, "") if person is not None else str(_("(no owner)"))
            rows[person] = WorkloadRow(owner_id=person, name=name)
        return rows[person]

    for owner_id, amounts in counts.open_by_owner.items():
        row = row_for(owner_id)
        row.open_projects = amounts.count
        row.open_planned_investment = amounts.planned_investment
        row.stale_projects = stale.get(owner_id, 0)
    for assignee_id, (n, overdue) in by_assignee.items():
        row = row_for(assignee_id)
        row.open_follow_ups = n
        row.overdue_follow_ups = overdue
    return rows, names


def _stale_by_owner(
    base: models.QuerySet[Project], *, now: datetime, cutoff_day_only: bool = False
) -> models.QuerySet[Any]:
    """Per owner of ``base``, as ``person`` and ``n``: the projects that tell how many are
    stale (:func:`stale_projects`), in one grouped query.

    Each project carries its last touch (the later of its creation and its latest
    interaction, kept by the database's triggers), so stale = open − open touched
    within the period, and ``n`` counts those touched: an index-only range over the
    recently touched projects, not a pass over every open one. Elsewhere ``n`` counts
    the stale projects as listed. ``cutoff_day_only``: the stale projects last touched on the
    day (UTC) of the cutoff, from the same index (the days before are the tally's).
    """
    cutoff = _stale_cutoff(now)
    if cutoff_day_only:
        day_start = _utc_midnight(cutoff.astimezone(UTC).date())
        projects = base.filter(status__in=OPEN, last_touched_at__gte=day_start, last_touched_at__lte=cutoff)
    elif tally.available(base.db):
        projects = base.filter(status__in=OPEN, last_touched_at__gt=cutoff)
    else:
        projects = stale_projects(base, now=now)
    return projects.values("owner_id").annotate(person=models.F("owner_id"), n=Count("*")).order_by()


def _targets(
    *,
    options: DashboardOptions,
    filters: DashboardFilters,
    by_park_figures: Mapping[int, Figures],
    figures: Figures,
) -> list[TargetProgress]:
    """Progress of expected output value against the zones' targets (and the chain's, when one is chosen).

    Achieved: expected annual output value of projects signed or later. Pipeline: of
    projects not yet signed (lead, screening, negotiating), shown beside it.
    """
    targets: list[TargetProgress] = []
    zones = [z for z in options.zones if z.target_output_value]
    if filters.park is not None:
        zones = [z for z in zones if z.pk == filters.park.zone_id]
    for zone in zones:
        in_zone = Figures()
        for park in options.parks:
            if park.zone_id == zone.pk and park.pk in by_park_figures:
                for status, amounts in by_park_figures[park.pk].by_status.items():
                    in_zone.add(status, amounts)
        achieved = in_zone.amounts(SIGNED_OR_LATER).expected_output_value
        targets.append(
            TargetProgress(
                label=zone.name,
                target=zone.target_output_value,
                achieved=achieved,
                pipeline=in_zone.amounts(BEFORE_SIGNING).expected_output_value,
                rate=Rate(achieved, zone.target_output_value),
                # With a single zone every park is in it: no parameter needed.
                params={} if len(options.zones) == 1 else {"park__zone__id__exact": str(zone.pk)},
            )
        )
    chain = filters.chain
    if chain is not None and chain.target_output_value:
        achieved = figures.amounts(SIGNED_OR_LATER).expected_output_value
        targets.append(
            TargetProgress(
                label=chain.name,
                target=chain.target_output_value,
                achieved=achieved,
                pipeline=figures.amounts(BEFORE_SIGNING).expected_output_value,
                rate=Rate(achieved, chain.target_output_value),
            )
        )
    return targets


def _label(obj: Any) -> tuple[str, str]:
    return obj.name, getattr(obj, "name_en", "") or ""


def dashboard_build(
    *,
    user: Any,
    filters: DashboardFilters,
    options: DashboardOptions,
    link: Linker = _no_link,
    now: datetime | None = None,
    use_tally: bool | None = None,
) -> Dashboard:
    """Every figure of the dashboard for ``user`` under ``filters``, in a fixed number of queries.

    The grouped totals come from the pipeline tally (``recruitment/tally.py``) when it
    can answer (no period filter), otherwise from the projects in one
    statement; ``use_tally=False`` always counts from the projects (the tests compare both).
    """
    now = now or timezone.now()
    base = projects_for_dashboard(user=user, filters=filters, stages=options.stages)
    lookups = _tally_lookups(user=user, filters=filters, using=base.db) if use_tally is not False else None
    counts = _counts(
        _rows_from_tables(base, now=now) if lookups is None else _rows_from_tally(lookups, using=base.db, now=now)
    )
    counts.dated = lookups is not None
    counts.stale_counted = lookups is None and tally.available(base.db)
    common = as_params(changelist_lookups(filters))

    def project_link(**extra: str) -> str | None:
        # A row of another chain while a chain is chosen (projects in both) cannot be
        # written as change-list parameters: a repeated parameter means "either".
        if any(common.get(key, value) != value for key, value in extra.items()):
            return None
        return link(Project, {**common, **extra})

    def rate_rows(figures: Figures, group: Mapping[str, str]) -> list[RateRow]:
        signed_params = status_in(SIGNED_OR_LATER)

        def urls(rate: Rate, numerator: Mapping[str, str], denominator: Mapping[str, str]) -> Rate:
            rate.numerator_url = project_link(**group, **numerator)
            rate.denominator_url = project_link(**group, **denominator)
            return rate

        return [
            RateRow(
                "signing",
                str(_("Signing rate 签约率")),
                str(_("Projects signed or later / all projects")),
                urls(figures.signing_rate(), signed_params, {}),
            ),
            RateRow(
                "construction",
                str(_("Construction-start rate 开工率")),
                str(_("Projects that reached construction (construction, production, at capacity) / signed or later")),
                urls(figures.construction_rate(), status_in(CONSTRUCTION_OR_LATER), signed_params),
            ),
            RateRow(
                "production",
                str(_("Production-start rate 投产率")),
                str(_("Projects in production or at capacity / signed or later")),
                urls(figures.production_rate(), status_in(PRODUCTION_OR_LATER), signed_params),
            ),
            RateRow(
                "funds",
                str(_("Funds-in-place rate 资金到位率")),
                str(_("Funds in place / signed amount, over projects signed or later")),
                urls(figures.funds_rate(), signed_params, signed_params),
            ),
        ]

    # One grouped query gives the funnel, the totals, the parks and the zones.
    by_park_figures = counts.by_park
    figures = Figures()
    for park_figures in by_park_figures.values():
        for status, amounts in park_figures.by_status.items():
            figures.add(status, amounts)

    top = max((a.count for a in figures.by_status.values()), default=0)
    funnel = [
        FunnelRow(
            status=status,
            label=str(Status(status).label),
            amounts=figures.by_status.get(status, Amounts()),
            share=round(100 * figures.by_status.get(status, Amounts()).count / top) if top else 0,
            url=project_link(status__exact=status),
        )
        for status in FUNNEL_ORDER
    ]

    def breakdown(items: Iterable[Any], figures_by_id: Mapping[int, Figures], param: str) -> list[FiguresRow]:
        rows = []
        for obj in items:
            group_figures = figures_by_id.get(obj.pk)
            if group_figures is None:
                continue
            group = {param: str(obj.pk)}
            name, name_en = _label(obj)
            rows.append(
                FiguresRow(
                    key=obj.code,
                    label=name,
                    label_en=name_en,
                    figures=group_figures,
                    url=project_link(**group),
                    rates=rate_rows(group_figures, group),
                )
            )
        rows.sort(key=lambda r: (-r.figures.total.count, r.key))
        return rows

    by_park = breakdown(options.parks, by_park_figures, "park__id__exact")
    by_chain = breakdown(options.chains, counts.by_chain, "stages__chain__id__exact")
    by_sector = breakdown(options.sectors, counts.by_sector, "stages__chain__sector__id__exact")

    targets = _targets(options=options, filters=filters, by_park_figures=by_park_figures, figures=figures)
    for target in targets:
        target.achieved_url = project_link(**target.params, **status_in(SIGNED_OR_LATER))
        target.pipeline_url = project_link(**target.params, **status_in(BEFORE_SIGNING))

    follow_ups = _open_follow_ups(user=user, filters=filters, stages=options.stages)
    workload_rows, names = _workload(
        base=base,
        # With the tally's dated rows, only those due today (UTC) before now.
        follow_ups=_open_follow_ups_due_today(user=user, filters=filters, stages=options.stages, now=now)
        if counts.dated
        else follow_ups,
        counts=counts,
        now=now,
    )
    stale = ListWithTotal(
        total=sum(r.stale_projects for r in workload_rows.values()),
        rows=stale_list(base, now=now),
        # Linked only once the project change list offers a "stale" list filter.
        url=project_link(stale="1"),
    )

    # SQLite walks the open follow-ups' due index, each one's project checked by its key (a
    # park's list: 75 ms with its 22,000 projects listed first, under 1 ms so).
    if connections[base.db].vendor == "sqlite":
        follow_ups = _open_follow_ups(user=user, filters=filters, stages=options.stages, per_row=True)
    overdue_qs = follow_ups.filter(due_at__lt=now)
    overdue = ListWithTotal(
        total=sum(r.overdue_follow_ups for r in workload_rows.values()),
        rows=list(
            overdue_qs.select_related("assignee", "project").only(*_OVERDUE_ROW_FIELDS).order_by("due_at")[:LIST_LIMIT]
        ),
        url=link(
            FollowUp,
            {
                "status__exact": FollowUp.Status.OPEN,
                "due_at__lt": now.isoformat(),
                **{f"project__{k}": v for k, v in common.items()},
            },
        ),
    )

    workload = sorted(
        workload_rows.values(), key=lambda r: (-r.overdue_follow_ups, -r.open_projects, r.owner_id is None, r.name)
    )
    for row in workload:
        owner = {"owner__id__exact": str(row.owner_id)} if row.owner_id is not None else {"owner__isnull": "True"}
        row.projects_url = project_link(**owner, **status_in(OPEN))
        row.stale_url = project_link(**owner, stale="1")
        assignee = (
            {"assignee__id__exact": str(row.owner_id)} if row.owner_id is not None else {"assignee__isnull": "True"}
        )
        open_follow_ups = {
            "status__exact": FollowUp.Status.OPEN,
            **assignee,
            **{f"project__{k}": v for k, v in common.items()},
        }
        row.follow_ups_url = link(FollowUp, open_follow_ups)
        row.overdue_url = link(FollowUp, {**open_follow_ups, "due_at__lt": now.isoformat()})

    return Dashboard(
        filters=filters,
        now=now,
        stale_after_days=settings.RECRUITMENT_STALE_AFTER_DAYS,
        figures=figures,
        funnel=funnel,
        rates=rate_rows(figures, {}),
        by_park=by_park,
        by_chain=by_chain,
        by_sector=by_sector,
        targets=targets,
        stale=stale,
        overdue=overdue,
        workload=workload,
        projects_url=project_link(),
        lights=_light_breakdown(counts, names=names, options=options, project_link=project_link),
    )
