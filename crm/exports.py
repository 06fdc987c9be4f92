"""Exporting enterprises and contacts to Excel and CSV, scoped to the user's office and the admin's filters.

Every export goes through :func:`export_queryset`, which narrows what it is given
with ``crm.access.scope_for_user``: a park user's export never holds another
office's contacts, whether it comes from the export page, an admin action or a
crafted URL. A file uses the import's columns and headers (Chinese, or English
when English is the active language), so an exported file, edited, imports back
as updates. Money is written in CNY and again in 万元. Rows are read a chunk at a
time with their related records (prefetched, or read for the whole chunk in one
query: ``chunk_values``): the number of queries depends on the number of chunks,
not on the number of rows.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from copy import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db import connections, models
from django.http import FileResponse, HttpRequest, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from crm.access import enterprise_external_id_visible, scope_for_user
from crm.contact_imports import CONTACT_COLUMNS
from crm.enterprise_imports import ENTERPRISE_COLUMNS
from crm.imports import WAN, Column
from crm.models import Contact, Enterprise
from crm.spreadsheets import CONTENT_TYPES, CSV, XLSX, OutColumn, sheet_write_csv, sheet_write_xlsx_file

EXPORT_CHUNK = 2000


def wan(value: Decimal | None) -> Decimal | None:
    """CNY in 万元 (ten thousand yuan), exactly."""
    return None if value is None else value / WAN


def related_rows(obj: Any, name: str) -> Iterable[Any]:
    """The prefetched rows of a many-to-many (no manager built per row), else the query."""
    cache = getattr(obj, "_prefetched_objects_cache", None)
    if cache is not None and name in cache:
        return cache[name]
    return getattr(obj, name).all()


def choice_label(model: type[models.Model], field_name: str) -> Callable[[Any], Any]:
    """``obj.get_<field>_display()`` for an export's rows, each label translated once per
    language rather than once per row (an export of 100,000 rows calls it 100,000 times)."""
    choices = {value: label for value, label in model._meta.get_field(field_name).flatchoices}
    labels: dict[tuple[str | None, Any], str] = {}

    def label(obj: Any) -> Any:
        value = getattr(obj, field_name)
        if value not in choices:
            return value  # as get_<field>_display() gives a value without a label
        key = (get_language(), value)
        if key not in labels:
            labels[key] = str(choices[value])
        return labels[key]

    return label


def stage_codes(stages: Iterable[Any]) -> str:
    """Stage codes as the import reads them; ``chain/stage`` so a code used in two chains stays unambiguous."""
    return ", ".join(f"{s.chain.code}/{s.code}" for s in stages)


# A column whose values are read for a chunk of rows at once: the chunk's objects in,
# ``{pk: value}`` out (a row missing from it gets ""). One query a chunk, where Django's
# prefetch builds a related manager and a queryset for every row (about 100 µs a row:
# 10 s of an export of 100,000 enterprises).
ChunkValues = Callable[[list[Any]], dict[Any, Any]]


def stage_codes_by_row(model: type[models.Model], field_name: str = "stages") -> ChunkValues:
    """:func:`stage_codes` of each row's stages, for a chunk of rows in one query."""
    from chains.models import Stage

    field = model._meta.get_field(field_name)
    through = field.remote_field.through  # type: ignore[union-attr]
    source = f"{field.m2m_field_name()}_id"  # type: ignore[union-attr]
    order = [f"stage__{name}" for name in Stage._meta.ordering or ["pk"]]

    def load(objs: list[Any]) -> dict[Any, Any]:
        codes: dict[Any, list[str]] = defaultdict(list)
        links = (
            through._default_manager.filter(**{f"{source}__in_array": [o.pk for o in objs]})
            .order_by(*order)
            .values_list(source, "stage__chain__code", "stage__code")
        )
        for pk, chain, stage in links:
            codes[pk].append(f"{chain}/{stage}")
        return {pk: ", ".join(c) for pk, c in codes.items()}

    return load


def office_codes_by_row(objs: list[Any]) -> dict[Any, Any]:
    """The code of each row's office, for a chunk of rows in one query (no Office built per row)."""
    from crm.models import Office

    codes = dict(Office.objects.filter(pk__in={o.office_id for o in objs}).values_list("pk", "code"))
    return {o.pk: codes[o.office_id] for o in objs if o.office_id in codes}


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class Exporter:
    """How one kind of record is written: the file's columns and each column's value."""

    kind: str
    model: type[models.Model]
    verbose_name: Any
    columns: tuple[Column, ...]
    values: dict[str, Callable[[Any], Any]]
    select_related: tuple[str, ...] = ()
    prefetch_related: tuple[str, ...] = ()
    default_filter: dict[str, Any] | None = None
    # Columns whose value depends on who reads it: ``(obj, reader's office id) -> value``.
    reader_values: dict[str, Callable[[Any, int | None], Any]] | None = None
    # Columns read for a chunk of rows at once (``ChunkValues``).
    chunk_values: dict[str, ChunkValues] | None = None

    def out_columns(self) -> list[OutColumn]:
        return [OutColumn(c.header(), c.kind, c.width) for c in self.columns]

    def prepare(self, qs: models.QuerySet) -> models.QuerySet:
        qs = qs.select_related(*self.select_related).prefetch_related(*self.prefetch_related)
        return qs.order_by(*(qs.query.order_by or self.model._meta.ordering or ["pk"]), "pk")

    def rows(self, qs: models.QuerySet, *, office_id: int | None = None) -> Iterator[list[Any]]:
        reader = self.reader_values or {}
        chunked = self.chunk_values or {}
        getters = [
            (lambda obj, get=reader[c.key]: get(obj, office_id))
            if c.key in reader
            else (None if c.key in chunked else self.values[c.key])
            for c in self.columns
        ]
        with _whole_result_plans(qs.db):
            for chunk in _chunks(self.prepare(qs).iterator(chunk_size=EXPORT_CHUNK), EXPORT_CHUNK):
                looked_up = {key: load(chunk) for key, load in chunked.items()}
                chunk_getters = [
                    (lambda obj, found=looked_up[c.key]: found.get(obj.pk, "")) if c.key in looked_up else get
                    for c, get in zip(self.columns, getters, strict=True)
                ]
                for obj in chunk:
                    yield [get(obj) for get in chunk_getters]


@contextmanager
def _whole_result_plans(alias: str) -> Iterator[None]:
    """Plan the export's cursor for reading every row (PostgreSQL).

    ``iterator()`` reads through a server-side cursor, which PostgreSQL plans for the
    first tenth of the rows (``cursor_tuple_fraction``): an export of one office's
    100,000 enterprises in name order then walks the name index over the whole
    directory of millions, fetching each row at random (minutes), instead of reading
    the office's rows and sorting them (seconds).
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET cursor_tuple_fraction = 1.0")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET cursor_tuple_fraction")


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda obj: getattr(obj, name)


def _own_external_id(enterprise: Enterprise, office_id: int | None) -> str:
    """Only the creating office exports its id for an enterprise (``crm.access``)."""
    visible = enterprise_external_id_visible(enterprise_office_id=enterprise.office_id, office_id=office_id)
    return enterprise.external_id if visible else ""


ENTERPRISE_EXPORTER = Exporter(
    kind="enterprises",
    model=Enterprise,
    verbose_name=gettext_lazy("Enterprises 企业"),
    columns=ENTERPRISE_COLUMNS,
    values={
        "id": lambda e: str(e.pk),
        "name": _attr("name"),
        "name_en": _attr("name_en"),
        "credit_code": _attr("credit_code"),
        "ownership": choice_label(Enterprise, "ownership"),
        "province": _attr("province"),
        "city": _attr("city"),
        "registered_capital": _attr("registered_capital"),
        "registered_capital_wan": lambda e: wan(e.registered_capital),
        "website": _attr("website"),
        "source": _attr("source"),
        "version": _attr("version"),
        "updated_at": _attr("updated_at"),
    },
    default_filter={"merged_into__isnull": True},
    reader_values={"external_id": _own_external_id},
    chunk_values={"capabilities": stage_codes_by_row(Enterprise), "office": office_codes_by_row},
)

CONTACT_EXPORTER = Exporter(
    kind="contacts",
    model=Contact,
    verbose_name=gettext_lazy("Contacts 联系人"),
    columns=CONTACT_COLUMNS,
    values={
        "id": lambda c: str(c.pk),
        "enterprise_name": lambda c: c.enterprise.name,
        "enterprise_credit_code": lambda c: c.enterprise.credit_code,
        "enterprise_id": lambda c: str(c.enterprise_id),
        "name": _attr("name"),
        "title": _attr("title"),
        "phone": _attr("phone"),
        "email": _attr("email"),
        "wechat": _attr("wechat"),
        "external_id": _attr("external_id"),
        "office": lambda c: c.office.code,
        "version": _attr("version"),
        "updated_at": _attr("updated_at"),
    },
    select_related=("enterprise", "office"),
)

EXPORTERS: dict[str, Exporter] = {e.kind: e for e in (ENTERPRISE_EXPORTER, CONTACT_EXPORTER)}


def export_queryset(*, exporter: Exporter, user: Any, queryset: models.QuerySet | None = None) -> models.QuerySet:
    """What ``user`` may export: ``queryset`` (the admin's filtered list) or everything, narrowed by tenancy."""
    if queryset is None:
        queryset = exporter.model._default_manager.filter(**(exporter.default_filter or {}))
    return scope_for_user(queryset, user=user)


def export_filename(exporter: Exporter, fmt: str) -> str:
    return f"{exporter.kind}-{timezone.localtime():%Y%m%d-%H%M}.{fmt}"


def export_response(
    *, exporter: Exporter, queryset: models.QuerySet | None, user: Any, fmt: str
) -> StreamingHttpResponse:
    """The file download, streamed: a CSV as it is written, an .xlsx from the temporary file it was written to."""
    qs = export_queryset(exporter=exporter, user=user, queryset=queryset)
    filename = export_filename(exporter, fmt)
    columns = exporter.out_columns()
    rows = exporter.rows(qs, office_id=getattr(user, "office_id", None))
    if fmt == CSV:
        response: StreamingHttpResponse = StreamingHttpResponse(
            sheet_write_csv(columns=columns, rows=rows), content_type=CONTENT_TYPES[CSV]
        )
    else:
        # An .xlsx is a zip, complete only once the last row is in: written to a temporary
        # file (memory stays flat), then sent from it in blocks. The file goes when the
        # response is closed.
        file = tempfile.TemporaryFile()
        try:
            sheet_write_xlsx_file(file, columns=columns, rows=rows, title=str(exporter.verbose_name))
            file.seek(0)
        except BaseException:
            file.close()
            raise
        response = FileResponse(file, content_type=CONTENT_TYPES[XLSX])
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def changelist_queryset(
    request: HttpRequest, model: type[models.Model], query_string: str, *, site: admin.AdminSite | None = None
) -> models.QuerySet | None:
    """The queryset the admin change list shows for ``query_string`` (its filters, search and order).

    Built by the registered ModelAdmin itself, so every ``list_filter`` and search
    field the admin has applies as the user saw it. None when the model has no admin.
    Raises ``IncorrectLookupParameters`` for a filter the change list would refuse.
    """
    model_admin = (site or admin.site)._registry.get(model)
    if model_admin is None:
        return None
    changelist_request = copy(request)
    changelist_request.GET = QueryDict(query_string.lstrip("?"))
    changelist = model_admin.get_changelist_instance(changelist_request)
    return changelist.queryset


def _export_action(fmt: str, description: str) -> Callable[..., HttpResponseBase | None]:
    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: models.QuerySet
    ) -> HttpResponseBase | None:
        exporter = exporter_for_model(queryset.model)
        if exporter is None:
            modeladmin.message_user(request, _("This list cannot be exported."), level="error")
            return None
        return export_response(exporter=exporter, queryset=queryset, user=request.user, fmt=fmt)

    action.__name__ = f"export_{fmt}"
    action.short_description = description  # type: ignore[attr-defined]
    action.allowed_permissions = ("view",)  # type: ignore[attr-defined]
    return action


_MODEL_EXPORTERS: dict[str, Exporter] = {}


def register_exporter(exporter: Exporter) -> None:
    """Higher apps (recruitment) register their exporters so the shared admin actions know them."""
    _MODEL_EXPORTERS[exporter.model._meta.label] = exporter


def exporter_for_model(model: type[models.Model]) -> Exporter | None:
    return _MODEL_EXPORTERS.get(model._meta.label)


for _exporter in EXPORTERS.values():
    register_exporter(_exporter)

export_xlsx_action = _export_action(XLSX, gettext_lazy("Export selected to Excel (.xlsx)"))
export_csv_action = _export_action(CSV, gettext_lazy("Export selected to CSV"))
"""Admin actions: add ``[export_xlsx_action, export_csv_action]`` to a ModelAdmin's ``actions``."""
