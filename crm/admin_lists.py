"""Change lists whose cost does not grow with the table.

* :class:`EstimatedCountPaginator`: counts up to a limit exactly; past it, the
  planner's estimate ("about 1,000,000"), with the exact count a click away
  (``?exact=1``) — as large installations of other systems do. The "next" link
  carries the last row's sort key (``?after=…``), so paging on reads the next rows
  from the order's index (keyset); a page reached by its number reads its ids
  first when it is deep.
* :class:`LargeTableAdminMixin`: the paginator, no second count of the whole table,
  the ``exact`` parameter, and search through :mod:`crm.search`.
* :class:`LargeTableChangeList`: each row's link written from one reversed URL,
  the list's filters added to it once a page.
* Sidebar filters from the reference tables (offices, users, provinces), never a
  ``SELECT DISTINCT`` over the listed table.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ChangeList
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import BigIntegerField, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chains.admin_filters import cached_choices
from crm.admin_tenancy import user_sees_everything
from crm.admin_urls import KeyedUrl

EXACT_PARAM = "exact"
AFTER_PARAM = "after"
_KEYSET_SALT = "crm.admin_lists.keyset"


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
        after: str | None = None,
        scope: str = "",
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
        # The token of the "next" link that brought the user here (None: a page by its
        # number), and what the list is (its filters and search): a token from another
        # list is ignored.
        self.after = after
        self.scope = scope
        # The token for this page's "next" link, once a page was read (None: no keyset).
        self.next_after: str | None = None

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
        page = self._keyset_page(number)
        if page is None:
            page = self._numbered_page(number)
        if page.has_next() and len(page.object_list) == self.per_page:  # an estimate may promise more
            self.next_after = self._token_after(page.object_list, number + 1)
        return page

    def _numbered_page(self, number: int) -> Any:
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        if bottom < DEEP_PAGE_OFFSET or not isinstance(queryset, QuerySet):
            found = self.page_rows(bottom, self.per_page) if self.page_rows is not None else None
            return super().page(number) if found is None else self._get_page(found, number, self)
        top = bottom + self.per_page
        ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in queryset.order_by().filter(pk__in=ids)}
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)

    # --- keyset: the "next" link seeks past the last row's sort key ----------------------

    @cached_property
    def _sort_fields(self) -> list[tuple[Any, bool]] | None:
        """The list's order as (field, descending) pairs, or None when a keyset cannot
        follow it: an expression, a field across a relation, or a column that may be NULL
        (NULLs sort apart from the values, so "past this value" would skip or repeat them)."""
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or queryset.query.extra_order_by or not queryset.query.order_by:
            return None
        opts = queryset.model._meta
        fields = []
        for item in queryset.query.order_by:
            if not isinstance(item, str) or item == "?":
                return None
            name = item.lstrip("-")
            try:
                field = opts.pk if name == "pk" else opts.get_field(name)
            except FieldDoesNotExist:
                return None
            if not field.concrete or field.is_relation or field.null:
                return None
            fields.append((field, item.startswith("-")))
        if not any(field.primary_key for field, _ in fields):
            return None  # not a total order: rows with equal keys would be skipped
        return fields

    def _token_after(self, rows: Any, number: int) -> str | None:
        fields = self._sort_fields
        rows = list(rows)
        if fields is None or not rows:
            return None
        last = rows[-1]
        values = [field.value_to_string(last) for field, _ in fields]
        return signing.dumps({"p": number, "s": self._scope_digest, "k": values}, salt=_KEYSET_SALT, compress=True)

    @cached_property
    def _scope_digest(self) -> str:
        order = ",".join(str(item) for item in self.object_list.query.order_by)
        return hashlib.blake2s(f"{self.scope}|{order}".encode(), digest_size=8).hexdigest()

    def _keyset_values(self, number: int) -> list[Any] | None:
        """The sort key the token carries, if it was made for page ``number`` of this list."""
        fields = self._sort_fields
        if not self.after or number < 2 or fields is None:
            return None
        try:
            token = signing.loads(self.after, salt=_KEYSET_SALT)
            if token["p"] != number or token["s"] != self._scope_digest or len(token["k"]) != len(fields):
                return None
            return [field.to_python(value) for (field, _), value in zip(fields, token["k"], strict=True)]
        except (signing.BadSignature, ValidationError, KeyError, TypeError, ValueError):
            return None  # a stale or edited link: the page by its number instead

    def _keyset_page(self, number: int) -> Any:
        values = self._keyset_values(number)
        if values is None:
            return None
        fields = self._sort_fields
        assert fields is not None
        # Past the key: (a > x) or (a = x and b > y) or …, each comparison in its column's
        # direction; the first column's bound on its own lets the order's index seek to it.
        past = Q()
        equal = Q()
        for (field, descending), value in zip(fields, values, strict=True):
            past |= equal & Q(**{f"{field.name}__{'lt' if descending else 'gt'}": value})
            equal &= Q(**{field.name: value})
        first, descending = fields[0]
        bound = Q(**{f"{first.name}__{'lte' if descending else 'gte'}": values[0]})
        rows = list(self.object_list.filter(bound, past)[: self.per_page])
        return self._get_page(rows, number, self)


# From this offset on, a page reads its ids first (EstimatedCountPaginator.page).
DEEP_PAGE_OFFSET = 1_000


class LargeTableChangeList(ChangeList):
    """A change list whose rows' links are written from one reversed URL.

    Django reverses each row's change URL, then merges the list's filters into it
    (``add_preserved_filters``, which resolves the URL again when the list is filtered
    or searched): the same work fifty times a page. The links differ only in
    the row's quoted key, so the URL is reversed once and the filters are added once
    (:class:`crm.admin_urls.KeyedUrl`); a key that ``reverse`` would escape goes Django's way.
    The filters are then carried by the link itself, so ``preserved_filters`` is
    emptied for the rows (``items_for_result``, its only reader, adds nothing twice);
    ``row_preserved_filters`` keeps them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_preserved_filters = self.preserved_filters
        self.preserved_filters = ""

    @cached_property
    def _row_url(self) -> KeyedUrl:
        """The row link, filters included."""
        return KeyedUrl(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            current_app=self.model_admin.admin_site.name,
            finish=self._with_filters,
        )

    def _with_filters(self, url: str) -> str:
        return add_preserved_filters({"preserved_filters": self.row_preserved_filters, "opts": self.opts}, url)

    def url_for_result(self, result: Any) -> str:
        return self._row_url(getattr(result, self.pk_attname))


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

    def action_checkbox(self, obj: Any) -> str:
        """The row's checkbox, the markup Django's widget renders, written directly:
        the widget goes through the form renderer's templates once a row, a fifth of
        a page's rendering (``tests/crm/test_admin_lists.py`` holds the two equal)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(gettext("Select this object for an action - {}"), str(obj)),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return LargeTableChangeList

    # (what it was made from, the safe string): the empty cell's text is asked for by
    # every cell of a page, 750 times; it is marked safe once while its source stays.
    _empty_value_kept: tuple[Any, Any] | None = None

    def get_empty_value_display(self) -> Any:
        try:
            source = self.empty_value_display  # type: ignore[attr-defined]
        except AttributeError:
            source = self.admin_site.empty_value_display  # type: ignore[attr-defined]
        kept = self._empty_value_kept
        if kept is None or kept[0] is not source:
            kept = self._empty_value_kept = (source, mark_safe(source))  # noqa: S308 - the admin's own setting
        return kept[1]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if EXACT_PARAM in request.GET:
            query = request.GET.copy()
            query.pop(EXACT_PARAM)
            request.GET = query
            request.exact_count = True  # type: ignore[attr-defined]
        if AFTER_PARAM in request.GET:
            query = request.GET.copy()
            request.keyset_after = query.pop(AFTER_PARAM)[-1]  # type: ignore[attr-defined]
            request.GET = query
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
        return self.paginator(
            queryset,
            per_page,
            *args,
            exact=exact,
            page_rows=page_rows,
            estimate=estimate,
            after=getattr(request, "keyset_after", None),
            scope=_list_scope(request),
            **kwargs,
        )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        if self.search_function is None or not search_term.strip():
            return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        request._searched_list = (queryset, search_term)  # type: ignore[attr-defined]
        return type(self).search_function(queryset, search_term), False


def _list_scope(request: HttpRequest) -> str:
    """What the list is, as its query string says (filters, search, order), its page aside;
    and whose it is: a "next" link works only for the list and the user it was made for."""
    from django.contrib.admin.views.main import PAGE_VAR

    params = sorted((key, value) for key, values in request.GET.lists() if key != PAGE_VAR for value in values)
    return f"{getattr(request.user, 'pk', '')}?{params}"


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
