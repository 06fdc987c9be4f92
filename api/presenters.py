"""Rendering records for the API and the change feed, a whole page at a time.

A presenter declares its columns (an output name, an ORM path, a formatter) and
its many-valued columns (codes or ids through a many-to-many table). A page is
one ``values_list`` query with the joins it needs plus one query per many-valued
column, whatever the page size: no model instances, no per-row queries. The detail
endpoint, the list, the write responses and the change feed all render through
the same presenter, so a record looks the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models

from api.rendering import sql_format

Formatter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    path: str
    fmt: Formatter | None = None
    # A value computed in the page query (e.g. a nested JSON object built by a subquery):
    # called once for the expression, annotated under ``path``.
    expression: Callable[[], Any] | None = None


@dataclass(frozen=True, slots=True)
class ManyColumn:
    """Values reached from the record through a table: ``through`` rows grouped by ``owner``."""

    name: str
    through: Callable[[], type[models.Model]]
    owner: str
    value: str
    order: tuple[str, ...] = ()
    fmt: Formatter | None = None

    def subquery(self) -> Any:
        """The values as one array column of the page query (PostgreSQL)."""
        from django.contrib.postgres.expressions import ArraySubquery
        from django.db.models import OuterRef

        rows = (
            self.through()
            ._default_manager.filter(**{self.owner: OuterRef("pk")})
            .order_by(*self.order)
            .values(self.value)
        )
        return ArraySubquery(rows)

    def fetch(self, owner_ids: Sequence[Any]) -> dict[Any, list[Any]]:
        rows = (
            self.through()
            ._default_manager.filter(**{f"{self.owner}__in": owner_ids})
            .order_by(*self.order)
            .values_list(self.owner, self.value)
        )
        out: dict[Any, list[Any]] = {}
        for owner, value in rows:
            out.setdefault(owner, []).append(value)
        return out


@dataclass(frozen=True)
class Presenter:
    model: type[models.Model]
    columns: tuple[Column, ...]
    many: tuple[ManyColumn, ...] = ()
    _paths: tuple[str, ...] = field(init=False, repr=False)
    _sql_formats: tuple[Any, ...] = field(init=False, repr=False)
    _pg_specs: list[tuple[str, Any]] = field(init=False, repr=False)
    _pg_plain_names: list[str] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_paths", tuple(c.path for c in self.columns))
        formats = tuple(
            sql_format(c.fmt, c.path) if c.fmt is not None and c.expression is None else None for c in self.columns
        )
        object.__setattr__(self, "_sql_formats", formats)
        specs = [(c.name, None if e is not None else c.fmt) for c, e in zip(self.columns, formats, strict=True)]
        object.__setattr__(self, "_pg_specs", specs)
        plain = all(fmt is None for _name, fmt in specs) and all(m.fmt is None for m in self.many)
        names = [name for name, _fmt in specs] + [m.name for m in self.many]
        object.__setattr__(self, "_pg_plain_names", names if plain else None)

    def render(self, queryset: models.QuerySet) -> list[dict[str, Any]]:
        """Render every record of ``queryset`` (ordered and sliced as given).

        On PostgreSQL the many-valued columns are array subqueries of the page query
        (one round trip); elsewhere one more query per many-valued column.
        """
        if connection.vendor == "postgresql":
            annotations, paths = self._pg_query_parts()
            rows = list(queryset.annotate(**annotations).values_list(*paths))
            width = len(self.columns)
            specs = self._pg_specs
            names = self._pg_plain_names
            if names is not None:  # nothing left to format in Python: rows zipped with the names
                return [
                    dict(zip(names, (*row[:width], *(list(v or []) for v in row[width:])), strict=True)) for row in rows
                ]
            return [self._item(specs, row[:width], row[width:]) for row in rows]
        specs = [(c.name, c.fmt) for c in self.columns]
        rows = list(self.annotated(queryset).values_list("pk", *self._paths))
        if not rows:
            return []
        extra = [m.fetch([r[0] for r in rows]) for m in self.many]
        return [self._item(specs, row[1:], [values.get(row[0], []) for values in extra]) for row in rows]

    def annotated(self, queryset: models.QuerySet) -> models.QuerySet:
        """``queryset`` with the computed columns, so ``values_list`` can name every column's path."""
        computed = {c.path: c.expression() for c in self.columns if c.expression is not None}
        return queryset.annotate(**computed) if computed else queryset

    def _pg_query_parts(self) -> tuple[dict[str, Any], list[str]]:
        """The page query's annotations and selected names, built once per presenter.

        Values PostgreSQL can format itself arrive as text (``api.rendering.sql_format``);
        many-valued columns arrive as arrays. ``annotate`` copies the expressions it is
        given, so one set serves every request.
        """
        parts = self.__dict__.get("_pg_parts")
        if parts is None:
            annotations = {f"_fmt_{i}": e for i, e in enumerate(self._sql_formats) if e is not None}
            annotations.update({c.path: c.expression() for c in self.columns if c.expression is not None})
            many = {f"_many_{m.name}": m.subquery() for m in self.many}
            paths = [
                f"_fmt_{i}" if e is not None else c.path
                for i, (c, e) in enumerate(zip(self.columns, self._sql_formats, strict=True))
            ]
            parts = ({**annotations, **many}, [*paths, *many])
            object.__setattr__(self, "_pg_parts", parts)
        return parts

    def _item(self, specs: list[tuple[str, Any]], values: Sequence[Any], many: Sequence[Any]) -> dict[str, Any]:
        item = {
            name: (fmt(value) if fmt is not None and value is not None else value)
            for (name, fmt), value in zip(specs, values, strict=True)
        }
        for column, found in zip(self.many, many, strict=True):
            fmt = column.fmt
            item[column.name] = [fmt(v) for v in found] if fmt is not None else list(found or [])
        return item

    def render_objects(self, objects: Sequence[models.Model]) -> list[dict[str, Any] | None]:
        """Render saved instances by reading them back: what a reader would get."""
        ids = [o.pk for o in objects]
        # No ordering: the rows are matched back by id (the model's default ordering would sort them).
        rows = self.model._default_manager.filter(pk__in_array=ids).order_by()
        index = {item["id"]: item for item in self.render(rows)}
        return [index.get(str(pk)) for pk in ids]

    def render_one(self, obj: models.Model) -> dict[str, Any]:
        item = self.render_objects([obj])[0]
        if item is None:
            raise self.model.DoesNotExist(f"{self.model._meta.label} {obj.pk} is gone")
        return item
