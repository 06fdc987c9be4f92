"""Change lists whose cost does not grow with the table.

* :class:`EstimatedCountPaginator`: counts up to a limit exactly; past it, the
  planner's estimate ("about 1,000,000"), with the exact count a click away
  (``?exact=1``) — as large installations of other systems do. Deep pages read
  their ids first.
* :class:`LargeTableAdminMixin`: the paginator, no second count of the whole table,
  the ``exact`` parameter, and search through :mod:`crm.search`.
* Sidebar filters from the reference tables (offices, users, provinces), never a
  ``SELECT DISTINCT`` over the listed table.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import BigIntegerField, F, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from chains.admin_filters import cached_choices
from crm.admin_tenancy import user_sees_everything

EXACT_PARAM = "exact"


def exact_count_limit() -> int:
    """Up to this many rows a change list counts exactly (setting ``ADMIN_EXACT_COUNT_LIMIT``)."""
    return int(getattr(settings, "ADMIN_EXACT_COUNT_LIMIT", 10_000))


def estimated_rows(queryset: QuerySet) -> int | None:
    """The planner's estimate of the rows of ``queryset`` (PostgreSQL), or None."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    plan = queryset.order_by().explain(format="json")
    try:
        return int(json.loads(plan)[0]["Plan"]["Plan Rows"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class EstimatedCountPaginator(Paginator):
    """Exact counts up to :func:`exact_count_limit` rows, the planner's estimate past it.

    On PostgreSQL the planner is asked first (``EXPLAIN``, no rows read): an estimate
    past the limit is shown as it is, with the exact count on demand; otherwise the
    rows are counted, the count stopping at the limit. Other databases count, up to
    the limit and then in full. ``estimated`` says which it was.
    """

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *args: Any,
        exact: bool = False,
        page_rows: Any = None,
        estimate: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.exact = exact
        self.estimated = False
        # (offset, limit) -> the rows of that page, or None: a quicker way to a first page
        # than the list's own query (a search walked from an index: crm.search.ordered_page_rows).
        self.page_rows = page_rows
        # () -> an estimate of the count, or None: asked before the planner (a search's
        # own estimate: crm.search.estimated_count).
        self.estimate = estimate

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        queryset = self.object_list
        if self.exact or not isinstance(queryset, QuerySet):
            return super().count
        limit = exact_count_limit()
        estimate = self.estimate() if self.estimate is not None else None
        if estimate is not None and estimate > limit:
            self.estimated = True
            return estimate
        estimate = estimated_rows(queryset)
        if estimate is not None and estimate > limit:
            self.estimated = True
            return estimate
        capped = queryset.order_by()[: limit + 1].count()
        if capped <= limit:
            return capped
        if estimate is None:
            return queryset.count()
        self.estimated = True  # the planner thought there were fewer
        return capped

    def page(self, number: Any) -> Any:
        """A deep page reads its ids first (the order's index alone, skipped rows never
        joined or computed), then the rows of those ids; the first pages read rows at once."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        if bottom < DEEP_PAGE_OFFSET or not isinstance(queryset, QuerySet):
            found = self.page_rows(bottom, self.per_page) if self.page_rows is not None else None
            return super().page(number) if found is None else self._get_page(found, number, self)
        top = bottom + self.per_page
        ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in queryset.order_by().filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)


# From this offset on, a page reads its ids first (EstimatedCountPaginator.page).
DEEP_PAGE_OFFSET = 1_000


class LargeTableAdminMixin:
    """For change lists over tables of millions of rows (see the module's text)."""

    paginator = EstimatedCountPaginator
    # Fifty rows a page: rendering a row of the admin costs more than reading it, and a
    # manager pages or searches a list of millions rather than scrolling it.
    list_per_page = 50
    show_full_result_count = False
    search_function: Any = None  # (queryset, term) -> queryset
    # (list before the search, term, searched list in its order, offset=, limit=) -> rows or
    # None: a searched page by a quicker way than the list's query (EstimatedCountPaginator).
    search_page_function: Any = None
    # (list before the search, term) -> an estimate of the matches, or None.
    search_count_function: Any = None

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if EXACT_PARAM in request.GET:
            query = request.GET.copy()
            query.pop(EXACT_PARAM)
            request.GET = query
            request.exact_count = True  # type: ignore[attr-defined]
        return super().changelist_view(request, extra_context)  # type: ignore[misc]

    def get_paginator(self, request: HttpRequest, queryset: QuerySet, per_page: int, *args: Any, **kwargs: Any) -> Any:
        page_rows = estimate = None
        searched = getattr(request, "_searched_list", None)
        if searched is not None and isinstance(queryset, QuerySet):
            base, term = searched
            if self.search_page_function is not None:
                rows_function = type(self).search_page_function

                def page_rows(offset: int, limit: int) -> list | None:
                    return rows_function(base, term, queryset, offset=offset, limit=limit)

            if self.search_count_function is not None:
                count_function = type(self).search_count_function

                def estimate() -> int | None:
                    return count_function(base, term)

        exact = getattr(request, "exact_count", False)
        return self.paginator(queryset, per_page, *args, exact=exact, page_rows=page_rows, estimate=estimate, **kwargs)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if self.search_function is None or not search_term.strip():
            return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        request._searched_list = (queryset, search_term)  # type: ignore[attr-defined]
        return type(self).search_function(queryset, search_term), False


class OfficeListFilter(admin.RelatedFieldListFilter):
    """Offices from the office table: all for staff who see everything, else their own
    (cached for a minute, as reference choices are)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        from crm.models import Office

        scope = "all" if user_sees_everything(request) else str(getattr(request.user, "office_id", None))

        def build() -> list[tuple[Any, str]]:
            offices = Office.objects.order_by("name")
            if scope != "all":
                offices = offices.filter(pk=getattr(request.user, "office_id", None))
            return [(o.pk, str(o)) for o in offices]

        return cached_choices(f"offices:{scope}", build)


def enterprises_of_offices(queryset: QuerySet, office_ids: list[int]) -> QuerySet:
    """``queryset`` narrowed to the enterprises of ``office_ids``, on the expression
    ``enterprise_office_name_idx`` is built on."""
    key = Coalesce(F("office"), RawSQL("0", (), output_field=BigIntegerField()))
    return queryset.alias(_office_key=key).filter(_office_key__in=office_ids)


class EnterpriseOfficeListFilter(OfficeListFilter):
    """The enterprise list's office filter, on ``COALESCE(office_id, 0)``: the expression
    its index (``enterprise_office_name_idx``) is built on. The 0 is written into the
    SQL: SQLite matches an expression index only to the same literal, never to a bound
    parameter (with ``Value(0)`` it walked the name index: 40 ms instead of 0.1 ms)."""

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        values = self.used_parameters.get(self.lookup_kwarg)
        if values and not self.used_parameters.get(self.lookup_kwarg_isnull):
            ids = [int(v) for v in (values if isinstance(values, list) else [values]) if str(v).isdigit()]
            return enterprises_of_offices(queryset, ids)
        return super().queryset(request, queryset)


class UserListFilter(admin.RelatedFieldListFilter):
    """Users from the user table: all for staff who see everything, else their office's
    (cached for a minute)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        from crm.models import User

        scope = "all" if user_sees_everything(request) else str(getattr(request.user, "office_id", None))

        def build() -> list[tuple[Any, str]]:
            users = User.objects.order_by("username")
            if scope != "all":
                users = users.filter(office_id=getattr(request.user, "office_id", None))
            return [(u.pk, str(u)) for u in users]

        return cached_choices(f"users:{scope}", build)


# The provincial-level divisions, as a commercial register names them.
PROVINCES = [
    "北京市", "天津市", "河北省", "山西省", "内蒙古自治区", "辽宁省", "吉林省", "黑龙江省", "上海市", "江苏省",
    "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省", "广西壮族自治区",
    "海南省", "重庆市", "四川省", "贵州省", "云南省", "西藏自治区", "陕西省", "甘肃省", "青海省", "宁夏回族自治区",
    "新疆维吾尔自治区", "香港特别行政区", "澳门特别行政区", "台湾省",
]  # fmt: skip


class ProvinceListFilter(admin.SimpleListFilter):
    """Province from the fixed list of provincial-level divisions (no scan of the directory)."""

    title = _("province")
    parameter_name = "province"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(p, p) for p in PROVINCES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(province=self.value())
        return queryset
