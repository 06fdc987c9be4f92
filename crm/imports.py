"""Importing records from .xlsx and .csv files: a preview that lists every bad row, then all or nothing.

How an import works, whatever the kind of record:

1. The file is read (``crm.spreadsheets``); headers are matched to the kind's
   :class:`Column` list in Chinese or English.
2. :meth:`Importer.plan` checks every row, with the lookups it needs done a few
   queries at a time for the whole file (not per row), and decides for each row:
   create, update or unchanged. It collects **every** problem with its Excel row
   number and column; it never stops at the first.
3. :func:`import_commit` runs the plan again inside one transaction, with the
   matched rows locked (``select_for_update`` ordered by primary key), and writes
   only when no row is bad. One bad row: nothing is written.

Matching (so that importing the same file twice creates nothing the second time):
by our ``id`` column when present, then by ``external_id`` (the office's own id),
then by the unified social credit code for enterprises; a row with none of these
matches an existing record with the same normalised name (enterprises) or the same
name at the same enterprise (contacts) when exactly one exists.

Blank cells never erase what a record already holds: an update applies only the
cells that have a value. (The enterprise directory is shared by every office; a
partner's file with a few columns must not wipe what others entered.) A row whose
values equal the record's is left alone: no version bump, no history, no change feed.

Enterprises and contacts are written set-based: ``bulk_create``/``bulk_update``
with history rows written in bulk, the version bumped by one on every changed row
and the change feed updated in batches, the same effects as ``crm.records.record_save``
at a fraction of the queries (10,000 rows in seconds, see ``bench/p7_import.py``).
Projects go through ``recruitment.services`` row by row, because creating one also
walks the status pipeline, derives its chain role and schedules follow-ups.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from chains.models import Stage
from crm.changes import changes_record
from crm.credit_code import credit_code_error, normalize_credit_code
from crm.models import Contact, Enterprise, Office
from crm.names import name_initials, name_pinyin, normalize_name
from crm.spreadsheets import Sheet, SheetError, header_key, sheet_read

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases are ``check`` and ``write``."""

CHUNK = 500
LOOKUP_CHUNK = 1000
DEFAULT_MAX_ROWS = 50_000
WAN = Decimal(10_000)
YI = Decimal(100_000_000)


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


# --- Columns and problems -----------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of an import/export file: Chinese and English headers and accepted aliases."""

    key: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    read_only: bool = False  # written by exports for information; ignored by imports
    kind: str = "text"  # text | money | number | datetime (how exports format it)
    help: str | Promise = ""
    width: int = 16

    def header_keys(self) -> set[str]:
        return {header_key(h) for h in (self.key, self.zh, self.en, *self.aliases)}

    def header(self, language: str | None = None) -> str:
        """The header in the active language (Chinese unless English is active)."""
        language = language or get_language() or "zh-hans"
        return self.en if language.startswith("en") else self.zh


@dataclass(frozen=True, slots=True)
class RowIssue:
    """A problem at a row (Excel's row number; the header is row 1) and column."""

    row: int
    column: str
    message: str


@dataclass
class PlannedRow:
    """What the import will do with one row."""

    row: int
    action: str  # create | update | unchanged
    label: str
    instance: Any = None
    changes: dict[str, Any] = field(default_factory=dict)
    m2m: dict[str, list[Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"


@dataclass
class ImportPlan:
    """The outcome of checking a file: every problem, and what would happen to each row."""

    kind: str
    filename: str
    total: int = 0
    rows: list[PlannedRow] = field(default_factory=list)
    errors: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def created(self) -> int:
        return self.count(CREATE)

    @property
    def updated(self) -> int:
        return self.count(UPDATE)

    @property
    def unchanged(self) -> int:
        return self.count(UNCHANGED)

    @property
    def bad_rows(self) -> int:
        return len({e.row for e in self.errors})

    def errors_by_row(self) -> list[tuple[int, list[RowIssue]]]:
        grouped: dict[int, list[RowIssue]] = defaultdict(list)
        for issue in self.errors:
            grouped[issue.row].append(issue)
        return sorted(grouped.items())


class RowReader:
    """One data row's cells by column key; turns cells into values and records the row's problems."""

    def __init__(self, number: int, cells: dict[str, Any], headers: dict[str, str], plan: ImportPlan) -> None:
        self.number = number
        self.cells = cells
        self.headers = headers
        self.plan = plan
        self.bad = False

    def has(self, key: str) -> bool:
        """The column is in the file and this row's cell is not blank."""
        return self.cells.get(key) is not None

    def in_file(self, key: str) -> bool:
        return key in self.cells

    def error(self, key: str, message: str) -> None:
        self.bad = True
        self.plan.errors.append(RowIssue(self.number, self.headers.get(key, key), str(message)))

    def warn(self, key: str, message: str) -> None:
        self.plan.warnings.append(RowIssue(self.number, self.headers.get(key, key), str(message)))

    def text(self, key: str) -> str:
        value = self.cells.get(key)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def clean(self, model: type[models.Model], name: str, value: Any, *, key: str | None = None) -> Any:
        """``value`` through the model field's own conversion and validators (max length, e-mail, ≥ 0…)."""
        model_field = model._meta.get_field(name)
        try:
            return model_field.clean(value, None)
        except ValidationError as exc:
            self.error(key or name, " ".join(str(m) for m in exc.messages))
            return None

    def amount(self, key: str, *, wan_key: str | None = None) -> Decimal | None:
        """A sum of money in CNY from the yuan column, else from its 万元 column; '5亿' and '300万' work too."""
        if self.has(key):
            return self._amount(key, unit=Decimal(1))
        if wan_key and self.has(wan_key):
            return self._amount(wan_key, unit=WAN)
        return None

    def _amount(self, key: str, *, unit: Decimal) -> Decimal | None:
        value = self.cells.get(key)
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return Decimal(str(value)) * unit
        text = re.sub(r"[\s,，¥￥]", "", str(value))
        for suffix, factor in (("亿元", YI), ("亿", YI), ("万元", WAN), ("万", WAN), ("元", Decimal(1))):
            if text.endswith(suffix):
                text, unit = text[: -len(suffix)], factor
                break
        try:
            return Decimal(text) * unit
        except InvalidOperation:
            self.error(key, _("“%(value)s” is not an amount of money.") % {"value": value})
            return None

    def integer(self, key: str) -> int | None:
        value = self.cells.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).replace(",", "").strip())
        except ValueError:
            self.error(key, _("“%(value)s” is not a whole number.") % {"value": value})
            return None

    def codes(self, key: str) -> list[str]:
        return [c for c in re.split(r"[,，;；、\s]+", self.text(key)) if c]

    def uuid(self, key: str) -> uuid.UUID | None:
        if not self.has(key):
            return None
        try:
            return uuid.UUID(self.text(key))
        except ValueError:
            self.error(key, _("“%(value)s” is not an id of this system.") % {"value": self.text(key)})
            return None


# --- Shared look-ups ----------------------------------------------------------------


def chunked(values: Iterable[Any], size: int = LOOKUP_CHUNK) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def fetch_in(qs: models.QuerySet, field_name: str, values: Iterable[Any], *, lock: bool) -> list[Any]:
    """Rows of ``qs`` whose ``field_name`` is in ``values``, in a few queries; locked in pk order when asked."""
    found: list[Any] = []
    for batch in chunked(sorted(set(values), key=str)):
        batch_qs = qs.filter(**{f"{field_name}__in": batch})
        if lock:
            batch_qs = batch_qs.select_for_update(of=("self",)).order_by("pk")
        found.extend(batch_qs)
    return found


class StageResolver:
    """Stage codes of a whole file resolved in two queries; ``chain/stage`` for a code used in several chains."""

    def __init__(self, codes: Iterable[str]) -> None:
        codes = set(codes)
        self.by_code: dict[str, list[Stage]] = defaultdict(list)
        plain = {c for c in codes if "/" not in c}
        qualified = {c for c in codes if "/" in c}
        if plain:
            for stage in Stage.objects.filter(code__in=plain).select_related("chain"):
                self.by_code[stage.code].append(stage)
        if qualified:
            chain_codes = {c.split("/", 1)[0] for c in qualified}
            for stage in Stage.objects.filter(chain__code__in=chain_codes).select_related("chain"):
                key = f"{stage.chain.code}/{stage.code}"
                if key in qualified:
                    self.by_code[key].append(stage)

    def resolve(self, reader: RowReader, key: str) -> list[Stage] | None:
        stages: list[Stage] = []
        ok = True
        for code in reader.codes(key):
            matches = self.by_code.get(code, [])
            if not matches:
                reader.error(key, _("Unknown stage code “%(code)s”.") % {"code": code})
                ok = False
            elif len(matches) > 1:
                reader.error(
                    key, _("Stage code “%(code)s” is used in several chains; write it as chain/stage.") % {"code": code}
                )
                ok = False
            elif matches[0] not in stages:
                stages.append(matches[0])
        return stages if ok else None


class EnterpriseResolver:
    """Finds the enterprise a contact or project row names: by id, credit code or exact name.

    Three queries for the whole file. A merged enterprise stands for its survivor.
    """

    def __init__(self, readers: Sequence[RowReader], *, id_key: str, code_key: str, name_key: str) -> None:
        self.id_key, self.code_key, self.name_key = id_key, code_key, name_key
        ids, codes, names = set(), set(), set()
        for r in readers:
            if r.has(id_key):
                try:
                    ids.add(uuid.UUID(r.text(id_key)))
                except ValueError:
                    pass
            if r.has(code_key):
                codes.add(normalize_credit_code(r.text(code_key)))
            if r.has(name_key):
                names.add(normalize_name(r.text(name_key)))
        base = Enterprise.objects.select_related("merged_into")
        self.by_id = {e.pk: e for e in fetch_in(base, "pk", ids, lock=False)}
        self.by_code = {e.credit_code: e for e in fetch_in(base, "credit_code", codes, lock=False)}
        self.by_name: dict[str, list[Enterprise]] = defaultdict(list)
        for e in fetch_in(base.filter(merged_into__isnull=True), "name_normalized", names, lock=False):
            self.by_name[e.name_normalized].append(e)

    def resolve(self, reader: RowReader) -> Enterprise | None:
        enterprise = None
        if reader.has(self.id_key):
            ent_id = reader.uuid(self.id_key)
            enterprise = self.by_id.get(ent_id) if ent_id else None
            if ent_id and enterprise is None:
                reader.error(self.id_key, _("No enterprise has this id."))
                return None
        elif reader.has(self.code_key):
            code = normalize_credit_code(reader.text(self.code_key))
            enterprise = self.by_code.get(code)
            if enterprise is None:
                reader.error(
                    self.code_key,
                    _("No enterprise has credit code %(code)s; import the enterprise first.") % {"code": code},
                )
                return None
        elif reader.has(self.name_key):
            matches = self.by_name.get(normalize_name(reader.text(self.name_key)), [])
            if not matches:
                reader.error(
                    self.name_key,
                    _("No enterprise is named “%(name)s”; import the enterprise first or give its credit code.")
                    % {"name": reader.text(self.name_key)},
                )
                return None
            if len(matches) > 1:
                reader.error(
                    self.name_key,
                    _("Several enterprises are named “%(name)s”; give the credit code instead.")
                    % {"name": reader.text(self.name_key)},
                )
                return None
            enterprise = matches[0]
        else:
            reader.error(self.name_key, _("Name the enterprise (its name, credit code or id)."))
            return None
        if enterprise.merged_into_id:
            reader.warn(
                self.name_key,
                _("“%(old)s” was merged into “%(new)s”; the row goes to “%(new)s”.")
                % {"old": enterprise.name, "new": enterprise.merged_into.name},
            )
            enterprise = enterprise.merged_into
        return enterprise


class FileDuplicates:
    """Remembers which row first used a key, to refuse a second row with the same key."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, Any], int] = {}

    def seen(self, reader: RowReader, column: str, kind: str, value: Any, message: str) -> bool:
        if value in (None, ""):
            return False
        first = self.first.setdefault((kind, value), reader.number)
        if first != reader.number:
            reader.error(column, message % {"row": first})
            return True
        return False


# --- The importer base ---------------------------------------------------------------


class Importer:
    """One kind of record: its columns, how rows are checked and how they are written."""

    kind = ""
    model: type[models.Model]
    verbose_name: str | Promise = ""
    columns: tuple[Column, ...] = ()
    needs_office = True
    change_perms: tuple[str, ...] = ()

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    def importable_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.read_only]

    def map_header(self, sheet: Sheet, plan: ImportPlan) -> dict[int, Column]:
        from openpyxl.utils import get_column_letter

        lookup = {key: col for col in self.columns for key in col.header_keys()}
        index: dict[int, Column] = {}
        seen: dict[str, int] = {}
        for position, text in enumerate(sheet.header):
            if not text:
                continue
            col = lookup.get(header_key(text))
            if col is None:
                plan.warnings.append(RowIssue(sheet.header_row, text, _("Unknown column; it is ignored.")))
            elif col.key in seen:
                plan.errors.append(
                    RowIssue(
                        sheet.header_row,
                        text,
                        _("This column appears twice (also column %(letter)s).")
                        % {"letter": get_column_letter(seen[col.key] + 1)},
                    )
                )
            elif not col.read_only:
                seen[col.key] = position
                index[position] = col
            else:
                seen[col.key] = position
        for col in self.columns:
            if col.required and col.key not in seen:
                plan.errors.append(RowIssue(sheet.header_row, col.header(), _("This required column is missing.")))
        return index

    def readers(self, sheet: Sheet, index: dict[int, Column], plan: ImportPlan) -> list[RowReader]:
        headers = {col.key: sheet.header[pos] for pos, col in index.items()}
        readers = []
        for number, values in sheet.rows:
            cells = {col.key: (values[pos] if pos < len(values) else None) for pos, col in index.items()}
            readers.append(RowReader(number, cells, headers, plan))
        return readers

    def plan(self, sheet: Sheet, *, user: Any, filename: str, lock: bool, progress: Progress) -> ImportPlan:
        plan = ImportPlan(kind=self.kind, filename=filename, total=len(sheet.rows))
        if self.needs_office and not user_office(user):
            plan.errors.append(
                RowIssue(
                    sheet.header_row, "", _("Your account belongs to no office, so it cannot import office records.")
                )
            )
            return plan
        index = self.map_header(sheet, plan)
        if plan.errors:
            return plan
        readers = self.readers(sheet, index, plan)
        if not readers:
            plan.errors.append(RowIssue(sheet.header_row + 1, "", _("The file has no data rows.")))
            return plan
        self.check(readers, plan=plan, user=user, lock=lock, progress=progress)
        plan.errors.sort(key=lambda i: i.row)
        plan.warnings.sort(key=lambda i: i.row)
        return plan

    def check(self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool, progress: Progress) -> None:
        raise NotImplementedError

    def write(self, plan: ImportPlan, *, user: Any, progress: Progress) -> None:
        raise NotImplementedError

    def change_reason(self, plan: ImportPlan) -> str:
        return (_("Imported from %(file)s") % {"file": plan.filename})[:100]


def user_office(user: Any) -> Office | None:
    return getattr(user, "office", None) if user is not None else None


def _actor(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


# --- Running an import ---------------------------------------------------------------


def import_read(*, data: bytes, filename: str, max_rows: int = DEFAULT_MAX_ROWS) -> Sheet:
    return sheet_read(data, filename=filename, max_rows=max_rows)


def _file_error(importer: Importer, filename: str, exc: SheetError) -> ImportPlan:
    plan = ImportPlan(kind=importer.kind, filename=filename)
    plan.errors.append(RowIssue(1, "", str(exc)))
    return plan


def import_preview(
    *, importer: Importer, data: bytes, filename: str, user: Any, progress: Progress | None = None
) -> ImportPlan:
    """Check a file and say what importing it would do. Writes nothing."""
    try:
        sheet = import_read(data=data, filename=filename)
    except SheetError as exc:
        return _file_error(importer, filename, exc)
    return importer.plan(sheet, user=user, filename=filename, lock=False, progress=progress or _no_progress)


def import_commit(
    *, importer: Importer, data: bytes, filename: str, user: Any, progress: Progress | None = None
) -> ImportPlan:
    """Check the file again under row locks and write it all in one transaction, or nothing.

    The check is repeated here (not trusted from the preview) because the records
    may have changed since; the matched rows are locked in primary-key order, so a
    concurrent edit waits instead of being overwritten, and two imports of
    overlapping files cannot deadlock.
    """
    progress = progress or _no_progress
    try:
        sheet = import_read(data=data, filename=filename)
    except SheetError as exc:
        return _file_error(importer, filename, exc)
    try:
        with transaction.atomic():
            plan = importer.plan(sheet, user=user, filename=filename, lock=True, progress=progress)
            if not plan.ok:
                return plan
            importer.write(plan, user=user, progress=progress)
            if not plan.ok:
                # A row failed while writing (a rule only the service knows): undo everything.
                transaction.set_rollback(True)
                return plan
            plan.committed = True
            return plan
    except IntegrityError as exc:
        # A concurrent writer took a unique value (a credit code, an external id) first.
        plan = ImportPlan(kind=importer.kind, filename=filename, total=len(sheet.rows))
        plan.errors.append(
            RowIssue(
                1,
                "",
                _("Another change conflicted with this import and nothing was imported; try again. (%(error)s)")
                % {"error": str(exc).splitlines()[0]},
            )
        )
        return plan


# --- Set-based writing with versions, history and the change feed --------------------


def bulk_write(
    *,
    model: type[models.Model],
    creates: list[Any],
    updates: list[Any],
    update_fields: Iterable[str],
    actor: Any,
    reason: str,
    progress: Progress,
    m2m: dict[str, dict[Any, list[Any]]] | None = None,
    done_before: int = 0,
    total: int | None = None,
) -> None:
    """Insert ``creates`` and update ``updates`` with what ``record_save`` would also do.

    Each updated instance's version is bumped by one here; every written row gets
    a history row (user, reason, time) and its change-feed entry, in batches.
    ``m2m`` maps a many-to-many field to ``{pk: [related…]}``: those sets replace
    the current ones, and their history is written with the row's history.
    """
    now = timezone.now()
    history = model.history  # type: ignore[attr-defined]
    m2m = m2m or {}
    total = total if total is not None else len(creates) + len(updates)
    done = done_before
    fields = sorted(set(update_fields) | {"version", "updated_at"})
    for obj in updates:
        obj.version += 1
        obj.updated_at = now
    for batch, created in [(b, True) for b in chunked(creates, CHUNK)] + [(b, False) for b in chunked(updates, CHUNK)]:
        if created:
            model._default_manager.bulk_create(batch)
        else:
            model._default_manager.bulk_update(batch, fields)
        _write_m2m(model, batch, m2m, created=created)
        rows = history.bulk_history_create(
            batch, update=not created, default_user=actor, default_change_reason=reason, default_date=now
        )
        _write_m2m_history(model, rows, m2m, batch)
        for obj in batch:
            obj.__dict__.pop("_prefetched_objects_cache", None)
        if m2m:
            prefetch_related_objects(batch, *m2m.keys())
        changes_record(objects=batch)
        done += len(batch)
        progress("write", done, total)


def _write_m2m(
    model: type[models.Model], batch: list[Any], m2m: dict[str, dict[Any, list[Any]]], *, created: bool
) -> None:
    for name, wanted in m2m.items():
        m2m_field = model._meta.get_field(name)
        through = m2m_field.remote_field.through
        source = m2m_field.m2m_field_name()
        target = m2m_field.m2m_reverse_field_name()
        pks = [obj.pk for obj in batch if obj.pk in wanted]
        if not pks:
            continue
        if not created:
            through.objects.filter(**{f"{source}__in": pks}).delete()
        through.objects.bulk_create(
            [through(**{f"{source}_id": pk, f"{target}_id": rel.pk}) for pk in pks for rel in wanted[pk]]
        )


def _write_m2m_history(
    model: type[models.Model], rows: Sequence[Any], m2m: dict[str, dict[Any, list[Any]]], batch: list[Any]
) -> None:
    """History rows of the many-to-many sets, as simple-history writes them on a save:
    a copy of each through row (its id included) tied to the new history row."""
    if not m2m or not rows:
        return
    history_model = model.history.model  # type: ignore[attr-defined]
    pks = [obj.pk for obj in batch]
    for name in m2m:
        m2m_history = apps.get_model(history_model._meta.app_label, f"{history_model.__name__}_{name}")
        m2m_field = model._meta.get_field(name)
        through = m2m_field.remote_field.through
        source = m2m_field.m2m_field_name()
        target = m2m_field.m2m_reverse_field_name()
        current: dict[Any, list[tuple[Any, Any]]] = defaultdict(list)
        for through_id, src, dst in through.objects.filter(**{f"{source}_id__in": pks}).values_list(
            "id", f"{source}_id", f"{target}_id"
        ):
            current[src].append((through_id, dst))
        items = [
            m2m_history(**{"history": row, "id": through_id, f"{source}_id": row.id, f"{target}_id": dst})
            for row in rows
            if row.pk is not None  # a database that does not return ids from bulk inserts
            for through_id, dst in current.get(row.id, [])
        ]
        m2m_history.objects.bulk_create(items)


def _current_m2m(model: type[models.Model], name: str, pks: list[Any]) -> dict[Any, list[Any]]:
    if not pks:
        return {}
    m2m_field = model._meta.get_field(name)
    through = m2m_field.remote_field.through
    source = m2m_field.m2m_field_name()
    target = m2m_field.m2m_reverse_field_name()
    result: dict[Any, list[Any]] = defaultdict(list)
    for batch in chunked(pks):
        for src, dst in through.objects.filter(**{f"{source}_id__in": batch}).values_list(
            f"{source}_id", f"{target}_id"
        ):
            result[src].append(dst)
    return result


def _diff(instance: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if getattr(instance, name) != value}


# --- Enterprises ------------------------------------------------------------------------

_OWNERSHIP_WORDS = {
    Enterprise.Ownership.STATE: ("国有", "国企", "国有企业", "央企", "state-owned", "soe"),
    Enterprise.Ownership.PRIVATE: ("民营", "私营", "民营企业", "民企", "私营企业"),
    Enterprise.Ownership.FOREIGN: ("外资", "外商投资", "外商独资", "外资企业", "foreign-invested"),
    Enterprise.Ownership.JOINT: ("合资", "中外合资", "合资企业", "joint venture", "jv"),
    Enterprise.Ownership.OTHER: ("其他", "其它"),
}


def labels_in_every_language(choices: Sequence[tuple[str, Any]]) -> list[tuple[str, str]]:
    """``(value, label)`` for each choice in each language of the site: a file exported in
    Chinese imports while English is active, and the other way round."""
    result = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            result.extend((value, str(label)) for value, label in choices)
    return result


def ownership_from_text(text: str) -> str | None:
    """The ownership code for a code, a label in either language, or a common Chinese word."""
    key = header_key(text)
    for value, label in [(v, v) for v, _l in Enterprise.Ownership.choices] + labels_in_every_language(
        Enterprise.Ownership.choices
    ):
        if key == header_key(label):
            return value
    for value, words in _OWNERSHIP_WORDS.items():
        if key in {header_key(w) for w in words}:
            return value
    return None


OWNERSHIP_HELP = gettext_lazy("state 国有, private 民营, foreign 外资, joint_venture 合资, other 其他")

ENTERPRISE_COLUMNS: tuple[Column, ...] = (
    Column(
        "id",
        "系统编号",
        "ID",
        help=gettext_lazy("Leave blank for a new enterprise; an exported file carries it."),
        width=38,
    ),
    Column("name", "企业名称", "Name", ("名称", "企业", "company name"), required=True, width=36),
    Column("name_en", "英文名称", "English name", ("name (english)",), width=30),
    Column(
        "credit_code",
        "统一社会信用代码",
        "Credit code",
        ("信用代码", "社会信用代码", "unified social credit code", "uscc"),
        help=gettext_lazy("18 characters with a check digit; an existing enterprise with this code is updated."),
        width=22,
    ),
    Column("ownership", "企业性质", "Ownership", ("所有制", "企业类型", "所有制性质"), help=OWNERSHIP_HELP),
    Column("province", "省份", "Province", ("省",)),
    Column("city", "城市", "City", ("市", "地市")),
    Column(
        "registered_capital",
        "注册资本（元）",
        "Registered capital (CNY)",
        ("注册资本", "registered capital"),
        kind="money",
        width=20,
    ),
    Column(
        "registered_capital_wan",
        "注册资本（万元）",
        "Registered capital (10k CNY)",
        ("registered capital (万元)", "registered capital (wan)"),
        kind="money",
        help=gettext_lazy("Used only when the CNY column is blank."),
        width=20,
    ),
    Column("website", "网址", "Website", ("官网", "网站", "url"), width=28),
    Column(
        "capabilities",
        "可供环节",
        "Capabilities",
        ("环节", "能力", "stages", "capability stages"),
        help=gettext_lazy("Stage codes separated by commas (chain/stage when a code is in several chains)."),
        width=30,
    ),
    Column("external_id", "外部编号", "External id", ("外部id", "external"), width=20),
    Column("source", "来源", "Source", width=30),
    Column("office", "创建办公室", "Created by office", read_only=True),
    Column("version", "版本", "Version", read_only=True, kind="number", width=8),
    Column("updated_at", "更新时间", "Updated at", read_only=True, kind="datetime", width=18),
)

_ENTERPRISE_TEXT = ("name", "name_en", "province", "city", "website", "source")


class EnterpriseImporter(Importer):
    """The shared enterprise directory: created with the importer's office, matched by id, external id or code."""

    kind = "enterprises"
    model = Enterprise
    verbose_name = gettext_lazy("Enterprises 企业")
    columns = ENTERPRISE_COLUMNS
    needs_office = False
    change_perms = ("crm.add_enterprise", "crm.change_enterprise")

    def _values(self, r: RowReader, stages: StageResolver) -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for name in _ENTERPRISE_TEXT:
            if r.has(name):
                text = r.text(name)
                if name == "website" and not re.match(r"^[a-z][a-z0-9+.\-]*://", text, re.I):
                    text = "http://" + text
                values[name] = r.clean(Enterprise, name, text)
        if not r.has("name"):
            r.error("name", _("The enterprise name is required."))
        if r.has("credit_code"):
            code = normalize_credit_code(r.text("credit_code"))
            error = credit_code_error(code) if code else None
            if error:
                r.error("credit_code", _("Credit code %(code)s %(error)s.") % {"code": code, "error": error})
            else:
                values["credit_code"] = code
        if r.has("ownership"):
            ownership = ownership_from_text(r.text("ownership"))
            if ownership is None:
                r.error(
                    "ownership",
                    _("Unknown ownership “%(value)s”; use one of: %(choices)s.")
                    % {"value": r.text("ownership"), "choices": OWNERSHIP_HELP},
                )
            values["ownership"] = ownership
        capital = r.amount("registered_capital", wan_key="registered_capital_wan")
        if capital is not None:
            key = "registered_capital" if r.has("registered_capital") else "registered_capital_wan"
            values["registered_capital"] = r.clean(Enterprise, "registered_capital", capital, key=key)
        if r.has("external_id"):
            values["external_id"] = r.clean(Enterprise, "external_id", r.text("external_id"))
        if r.has("capabilities"):
            resolved = stages.resolve(r, "capabilities")
            if resolved is not None:
                values["stages"] = resolved
        return None if r.bad else values

    def check(self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool, progress: Progress) -> None:
        office = user_office(user)
        stages = StageResolver(code for r in readers for code in r.codes("capabilities"))
        parsed: list[tuple[RowReader, dict[str, Any] | None, uuid.UUID | None]] = []
        for r in readers:
            parsed.append((r, self._values(r, stages), r.uuid("id")))
        # Everything the rows could match, a few queries for the whole file.
        ids = {pk for _r, _v, pk in parsed if pk}
        codes = {v["credit_code"] for _r, v, _pk in parsed if v and v.get("credit_code")}
        externals = {v["external_id"] for _r, v, _pk in parsed if v and v.get("external_id")} if office else set()
        names = {
            normalize_name(v["name"])
            for _r, v, pk in parsed
            if v and v.get("name") and not pk and not v.get("credit_code") and not v.get("external_id")
        }
        base = Enterprise.objects.all()
        found: dict[Any, Enterprise] = {}
        for e in fetch_in(base, "pk", ids, lock=lock):
            found[e.pk] = e
        for e in fetch_in(base, "credit_code", codes, lock=lock):
            found[e.pk] = e
        if office:
            for e in fetch_in(base.filter(office=office), "external_id", externals, lock=lock):
                found[e.pk] = e
        for e in fetch_in(base.filter(merged_into__isnull=True), "name_normalized", names, lock=lock):
            found[e.pk] = e
        survivors = {e.merged_into_id for e in found.values() if e.merged_into_id} - set(found)
        for e in fetch_in(base, "pk", survivors, lock=lock):
            found[e.pk] = e
        by_code = {e.credit_code: e for e in found.values() if e.credit_code}
        by_external = {
            e.external_id: e for e in found.values() if office and e.office_id == office.pk and e.external_id
        }
        by_name: dict[str, list[Enterprise]] = defaultdict(list)
        for e in found.values():
            if not e.merged_into_id:
                by_name[e.name_normalized].append(e)
        current_stages = _current_m2m(Enterprise, "stages", list(found))

        seen = FileDuplicates()
        names_seen: dict[str, tuple[int, str | None]] = {}
        for done, (r, values, pk) in enumerate(parsed, start=1):
            if values is not None:
                self._plan_row(r, values, pk, plan, office, found, by_code, by_external, by_name, seen, names_seen)
            if done % CHUNK == 0 or done == len(parsed):
                progress("check", done, len(parsed))
        self._stage_changes(plan, current_stages)

    def _plan_row(
        self,
        r: RowReader,
        values: dict[str, Any],
        pk: uuid.UUID | None,
        plan: ImportPlan,
        office: Office | None,
        found: dict[Any, Enterprise],
        by_code: dict[str, Enterprise],
        by_external: dict[str, Enterprise],
        by_name: dict[str, list[Enterprise]],
        seen: FileDuplicates,
        names_seen: dict[str, tuple[int, str | None]],
    ) -> None:
        code = values.get("credit_code")
        external = values.get("external_id") if office else None
        if values.get("external_id") and not office:
            r.warn("external_id", _("Your account belongs to no office, so the external id is not stored."))
            values.pop("external_id")
        dup_message = _("Same %(what)s as row %%(row)s: each enterprise may appear only once in the file.")
        repeated = seen.seen(r, "id", "id", pk, dup_message % {"what": _("id")})
        repeated |= seen.seen(r, "credit_code", "code", code, dup_message % {"what": _("credit code")})
        repeated |= seen.seen(r, "external_id", "external", external, dup_message % {"what": _("external id")})
        key = normalize_name(values.get("name") or "")
        first = names_seen.get(key)
        # Two rows of one name are one enterprise twice, unless two different credit codes say otherwise.
        if key and first and not repeated and not (code and first[1] and code != first[1]):
            r.error(
                "name",
                _("Same name as row %(row)s: each enterprise may appear only once in the file.") % {"row": first[0]},
            )
        if key:
            names_seen.setdefault(key, (r.number, code))

        # Which existing enterprise the row means; keys that disagree are an error.
        candidates: dict[str, Enterprise] = {}
        if pk:
            if pk in found:
                candidates["id"] = found[pk]
            else:
                r.error("id", _("No enterprise has this id."))
        if external and external in by_external:
            candidates["external_id"] = by_external[external]
        if code and code in by_code:
            candidates["credit_code"] = by_code[code]
        targets = {e.pk for e in candidates.values()}
        if len(targets) > 1:
            described = ", ".join(f"{r.headers.get(k, k)} → {e.name}" for k, e in candidates.items())
            r.error(
                next(iter(candidates)),
                _("The row's keys point at different enterprises: %(which)s.") % {"which": described},
            )
        target = next(iter(candidates.values()), None)
        matched_by_name = False
        if target is None and not pk and not code and not external:
            same_name = by_name.get(key, [])
            if len(same_name) > 1:
                r.error("name", _("Several enterprises are named like this; give the credit code or id."))
            elif same_name:
                target, matched_by_name = same_name[0], True
        if target is not None and target.merged_into_id:
            survivor = found[target.merged_into_id]
            r.warn(
                "name",
                _("“%(old)s” was merged into “%(new)s”; the row updates “%(new)s”.")
                % {"old": target.name, "new": survivor.name},
            )
            target = survivor
        if target is not None:
            seen.seen(
                r,
                "name",
                "target",
                target.pk,
                _("Same enterprise as row %(row)s: each enterprise may appear only once in the file."),
            )
            if code and code in by_code and by_code[code].pk != target.pk:
                r.error(
                    "credit_code",
                    _("Credit code %(code)s already belongs to “%(name)s”.")
                    % {"code": code, "name": by_code[code].name},
                )
            if external and external in by_external and by_external[external].pk != target.pk:
                r.error(
                    "external_id",
                    _("External id %(id)s already belongs to “%(name)s”.")
                    % {"id": external, "name": by_external[external].name},
                )
            if matched_by_name:
                r.warn("name", _("Matched the existing enterprise by name."))
        if r.bad:
            return
        stages = values.pop("stages", None)
        label = values.get("name") or ""
        if target is None:
            enterprise = Enterprise(office=office, version=1, **values)
            _prepare_names(enterprise)
            row = PlannedRow(r.number, CREATE, label, instance=enterprise)
            if stages is not None:
                row.m2m["stages"] = stages
            plan.rows.append(row)
            return
        if values.get("external_id") and target.office_id != (office.pk if office else None):
            if target.external_id != values["external_id"]:
                r.warn(
                    "external_id", _("This enterprise was created by another office; its external id is not changed.")
                )
            values.pop("external_id")
        changes = _diff(target, values)
        row = PlannedRow(r.number, UPDATE if changes else UNCHANGED, label, instance=target, changes=changes)
        if stages is not None:
            row.m2m["stages"] = stages
        plan.rows.append(row)

    def _stage_changes(self, plan: ImportPlan, current: dict[Any, list[Any]]) -> None:
        for row in plan.rows:
            if row.action == CREATE or "stages" not in row.m2m:
                continue
            wanted = {s.pk for s in row.m2m["stages"]}
            if wanted == set(current.get(row.instance.pk, [])):
                del row.m2m["stages"]
            else:
                row.changes["stages"] = row.m2m["stages"]
                row.action = UPDATE

    def write(self, plan: ImportPlan, *, user: Any, progress: Progress) -> None:
        creates = [row.instance for row in plan.rows if row.action == CREATE]
        updates = []
        fields: set[str] = set()
        for row in plan.rows:
            if row.action != UPDATE:
                continue
            for name, value in row.changes.items():
                if name != "stages":
                    setattr(row.instance, name, value)
                    fields.add(name)
            if "name" in row.changes:
                _prepare_names(row.instance)
                fields |= {"name_pinyin", "name_initials", "name_normalized"}
            updates.append(row.instance)
        stage_sets = {row.instance.pk: row.m2m["stages"] for row in plan.rows if "stages" in row.m2m}
        # A credit code moving from one row's enterprise to another's would clash mid-way;
        # the plan refuses that, so the unique index only guards against concurrent writers.
        bulk_write(
            model=Enterprise,
            creates=creates,
            updates=updates,
            update_fields=fields,
            actor=_actor(user),
            reason=self.change_reason(plan),
            progress=progress,
            m2m={"stages": stage_sets} if stage_sets else None,
        )


def _prepare_names(enterprise: Enterprise) -> None:
    """The search and duplicate keys ``crm.services`` keeps on every enterprise."""
    enterprise.name_pinyin = name_pinyin(enterprise.name)
    enterprise.name_initials = name_initials(enterprise.name)
    enterprise.name_normalized = normalize_name(enterprise.name)


# --- Contacts ---------------------------------------------------------------------------

CONTACT_COLUMNS: tuple[Column, ...] = (
    Column("id", "系统编号", "ID", width=38),
    Column(
        "enterprise_name", "企业名称", "Enterprise", ("企业", "单位", "公司", "所在企业", "enterprise name"), width=36
    ),
    Column(
        "enterprise_credit_code",
        "统一社会信用代码",
        "Enterprise credit code",
        ("企业信用代码", "信用代码", "credit code"),
        width=22,
    ),
    Column("enterprise_id", "企业系统编号", "Enterprise ID", width=38),
    Column("name", "姓名", "Name", ("联系人", "联系人姓名", "contact", "contact name"), required=True),
    Column("title", "职务", "Title", ("职位", "job title", "position")),
    Column("phone", "电话", "Phone", ("手机", "联系电话", "手机号", "mobile", "telephone"), width=18),
    Column("email", "电子邮箱", "E-mail", ("邮箱", "电子邮件", "email", "mail"), width=26),
    Column("wechat", "微信", "WeChat", ("微信号", "wechat id")),
    Column("external_id", "外部编号", "External id", ("外部id", "external"), width=20),
    Column("office", "办公室", "Office", read_only=True),
    Column("version", "版本", "Version", read_only=True, kind="number", width=8),
    Column("updated_at", "更新时间", "Updated at", read_only=True, kind="datetime", width=18),
)

_CONTACT_TEXT = ("name", "title", "phone", "email", "wechat", "external_id")


class ContactImporter(Importer):
    """Contacts of the importer's office, attached to enterprises of the directory."""

    kind = "contacts"
    model = Contact
    verbose_name = gettext_lazy("Contacts 联系人")
    columns = CONTACT_COLUMNS
    change_perms = ("crm.add_contact", "crm.change_contact")

    def check(self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool, progress: Progress) -> None:
        from crm.access import scope_for_user

        office = user_office(user)
        enterprises = EnterpriseResolver(
            readers, id_key="enterprise_id", code_key="enterprise_credit_code", name_key="enterprise_name"
        )
        parsed = []
        for r in readers:
            values = {name: r.clean(Contact, name, r.text(name)) for name in _CONTACT_TEXT if r.has(name)}
            if not r.has("name"):
                r.error("name", _("The contact's name is required."))
            enterprise = enterprises.resolve(r)
            parsed.append((r, values, r.uuid("id"), enterprise))
        scoped = scope_for_user(Contact.objects.all(), user=user)
        found: dict[Any, Contact] = {}
        for c in fetch_in(scoped, "pk", {pk for _r, _v, pk, _e in parsed if pk}, lock=lock):
            found[c.pk] = c
        externals = {v["external_id"] for _r, v, _pk, _e in parsed if v.get("external_id")}
        by_external = {
            c.external_id: c
            for c in fetch_in(Contact.objects.filter(office=office), "external_id", externals, lock=lock)
        }
        natural_enterprises = {e.pk for _r, v, pk, e in parsed if e and not pk and not v.get("external_id")}
        by_natural: dict[tuple[Any, str], list[Contact]] = defaultdict(list)
        for c in fetch_in(Contact.objects.filter(office=office), "enterprise_id", natural_enterprises, lock=lock):
            by_natural[(c.enterprise_id, c.name)].append(c)

        seen = FileDuplicates()
        dup = _("Same %(what)s as row %%(row)s: each contact may appear only once in the file.")
        for done, (r, values, pk, enterprise) in enumerate(parsed, start=1):
            external = values.get("external_id")
            seen.seen(r, "id", "id", pk, dup % {"what": _("id")})
            seen.seen(r, "external_id", "external", external, dup % {"what": _("external id")})
            if enterprise and values.get("name"):
                seen.seen(
                    r, "name", "natural", (enterprise.pk, values["name"]), dup % {"what": _("enterprise and name")}
                )
            target = None
            if pk:
                target = found.get(pk)
                if target is None:
                    r.error("id", _("No contact of yours has this id."))
            elif external and external in by_external:
                target = by_external[external]
            elif enterprise and not external and values.get("name"):
                same = by_natural.get((enterprise.pk, values["name"]), [])
                if len(same) > 1:
                    r.error("name", _("Your office has several contacts of this name at this enterprise; give the id."))
                elif same:
                    target = same[0]
            if target and external and external in by_external and by_external[external].pk != target.pk:
                r.error("external_id", _("External id %(id)s already belongs to another contact.") % {"id": external})
            if not r.bad and enterprise is not None:
                values["enterprise_id"] = enterprise.pk
                label = f"{values.get('name') or (target.name if target else '')} · {enterprise.name}"
                if target is None:
                    contact = Contact(office=office, version=1, **values)
                    plan.rows.append(PlannedRow(r.number, CREATE, label, instance=contact))
                else:
                    if (
                        target.office_id != office.pk
                        and values.get("external_id", target.external_id) != target.external_id
                    ):
                        r.warn(
                            "external_id", _("This contact belongs to another office; its external id is not changed.")
                        )
                        values.pop("external_id")
                    changes = _diff(target, values)
                    plan.rows.append(
                        PlannedRow(r.number, UPDATE if changes else UNCHANGED, label, instance=target, changes=changes)
                    )
            if done % CHUNK == 0 or done == len(parsed):
                progress("check", done, len(parsed))

    def write(self, plan: ImportPlan, *, user: Any, progress: Progress) -> None:
        creates = [row.instance for row in plan.rows if row.action == CREATE]
        updates, fields = [], set()
        for row in plan.rows:
            if row.action == UPDATE:
                for name, value in row.changes.items():
                    setattr(row.instance, name, value)
                    fields.add("enterprise" if name == "enterprise_id" else name)
                updates.append(row.instance)
        bulk_write(
            model=Contact,
            creates=creates,
            updates=updates,
            update_fields=fields,
            actor=_actor(user),
            reason=self.change_reason(plan),
            progress=progress,
        )
