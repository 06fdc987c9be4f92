"""Importing records from .xlsx and .csv files: a preview that lists every bad row, then all or nothing.

How an import works, whatever the kind of record:

1. The file is read (``crm.spreadsheets``); headers are matched to the kind's
   :class:`Column` list in Chinese or English.
2. :meth:`Importer.plan` checks every row, with the lookups it needs done a few
   queries at a time for the whole file (not per row), and decides for each row:
   create, update or unchanged. It collects **every** problem with its Excel row
   number and column; it never stops at the first.
3. :func:`import_commit` runs the plan again inside one transaction, with the
   matched rows locked (``SELECT … FOR NO KEY UPDATE`` ordered by primary key), and
   writes only when no row is bad. One bad row: nothing is written.

Both are generators underneath (:func:`import_preview_steps`,
:func:`import_commit_steps`) that yield ``(phase, done, total)`` between chunks of
rows, so the admin page can stream a progress bar while the one transaction runs.
The kinds live in ``crm.enterprise_imports``, ``crm.contact_imports`` and
``recruitment.imports`` (which also lists them all).

Matching (so that importing the same file twice creates nothing the second time):
by our ``id`` column when present, then by ``external_id`` (the office's own id),
then by the unified social credit code for enterprises; a row with none of these
matches an existing record with the same normalised name (enterprises) or the same
name at the same enterprise (contacts) when exactly one exists.

Blank cells never erase what a record already holds: an update applies only the
cells that have a value. (The enterprise directory is shared by every office; a
partner's file with a few columns must not wipe what others entered.) A row whose
values equal the record's is left alone: no version bump, no history, no change feed.

Enterprises and contacts are written set-based (``crm.records_bulk``): the same
effects as ``crm.records.record_save`` — version, history, change feed — at a
fraction of the queries (see ``bench/p7_import.py``).
Projects are written set-based too (``recruitment.imports``, through
``recruitment.bulk.projects_write``): a new one also walks the status pipeline, gets
its chain role derived and its follow-ups scheduled, as the services do.

Python's cycle collector is paused while a file is read, checked and written
(:func:`collector_paused`).
"""

from __future__ import annotations

import gc
import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from chains.models import Park, Stage
from crm.credit_code import normalize_credit_code
from crm.external_ids import external_id_problem
from crm.models import Enterprise, Office
from crm.names import normalize_name
from crm.records_bulk import chunked
from crm.spreadsheets import (
    CSV,
    OutColumn,
    Sheet,
    SheetError,
    header_key,
    sheet_read,
    sheet_write_csv,
    sheet_write_xlsx,
)

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases are ``read`` (cells into values; total 0
while the file itself is being opened), ``check`` (matching and planning) and ``write``."""
Step = tuple[str, int, int]
"""What a running import yields between chunks: ``(phase, done, total)``."""
Steps = Generator[Step, None, "ImportPlan"]

CHUNK = 500
DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024
WAN = Decimal(10_000)
_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")
YI = Decimal(100_000_000)


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
            value = model_field.clean(value, None)
        except ValidationError as exc:
            self.error(key or name, " ".join(str(m) for m in exc.messages))
            return None
        if name == "external_id" and value:
            # The partner's id follows one rule everywhere (the API's body and URL too).
            problem = external_id_problem(value)
            if problem:
                self.error(key or name, problem)
                return None
        return value

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
            # Only the digits 0-9 (Decimal would also read "1e5" or other scripts' digits).
            if not _PLAIN_AMOUNT.match(text):
                raise InvalidOperation
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


def fetch_in(qs: models.QuerySet, field_name: str, values: Iterable[Any], *, lock: bool) -> list[Any]:
    """Rows of ``qs`` whose ``field_name`` is in ``values``, in a few queries; locked in pk order when asked.

    An import only changes the rows it matches, never their keys, so the lock is
    ``FOR NO KEY UPDATE`` (as ``crm.records.record_lock_for_change`` and ``crm.bulk``
    take): a concurrent write inserting a row that refers to one of them (its
    foreign-key check takes ``KEY SHARE``) is not blocked, and cannot deadlock with
    this import while holding a change-feed render lock.
    """
    found: list[Any] = []
    if field_name == "external_id":
        # The external-id indexes are partial (``external_id <> ''``); PostgreSQL proves
        # that from an ``IN`` list of at most 100 values only, and a batch of 1,000
        # would scan the whole table (150 ms a batch at a million enterprises).
        qs = qs.exclude(external_id="")
    for batch in chunked(sorted(set(values), key=str)):
        batch_qs = qs.filter(**{f"{field_name}__in": batch})
        if lock:
            batch_qs = batch_qs.select_for_update(no_key=True, of=("self",)).order_by("pk")
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
    """Remembers which row first used a key, to refuse a second row with the same key.

    ``message`` has ``%(what)s`` (the key, e.g. "credit code") and ``%(row)s`` (the
    first row); it is only translated and formatted when a duplicate turns up.
    """

    def __init__(self, message: str | Promise) -> None:
        self.message = message
        self.first: dict[tuple[str, Any], int] = {}

    def seen(self, reader: RowReader, column: str, kind: str, value: Any, what: str | Promise) -> bool:
        if value in (None, ""):
            return False
        first = self.first.setdefault((kind, value), reader.number)
        if first != reader.number:
            reader.error(column, str(self.message) % {"what": what, "row": first})
            return True
        return False


KEY_ID = gettext_lazy("id")
KEY_EXTERNAL_ID = gettext_lazy("external id")


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
                # A misspelt header must not drop its column's data without a word (the
                # API's ``unknown_field``): the file is refused, naming the column.
                plan.errors.append(
                    RowIssue(
                        sheet.header_row,
                        text,
                        _(
                            "Unknown column “%(name)s” (column %(letter)s): this import has no such column. "
                            "Correct the header (the template lists the columns) or remove the column."
                        )
                        % {"name": text, "letter": get_column_letter(position + 1)},
                    )
                )
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
        for position, first_row in sorted(sheet.unnamed_columns.items()):
            letter = get_column_letter(position + 1)
            plan.errors.append(
                RowIssue(
                    sheet.header_row,
                    letter,
                    _(
                        "Column %(letter)s holds values (from row %(row)d) but has no header: "
                        "give it the header of a column of this import, or clear it."
                    )
                    % {"letter": letter, "row": first_row},
                )
            )
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

    def plan(self, sheet: Sheet, *, user: Any, filename: str, lock: bool) -> Steps:
        """Check every row (a generator: yields progress, returns the :class:`ImportPlan`)."""
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
        yield from self.check(readers, plan=plan, user=user, lock=lock)
        plan.errors.sort(key=lambda i: i.row)
        plan.warnings.sort(key=lambda i: i.row)
        return plan

    def check(
        self, readers: list[RowReader], *, plan: ImportPlan, user: Any, lock: bool
    ) -> Generator[Step, None, None]:
        """Plan every row into ``plan``, yielding ``("check", done, total)`` between chunks."""
        raise NotImplementedError

    def write(self, plan: ImportPlan, *, user: Any) -> Generator[Step, None, None]:
        """Write the planned rows, yielding ``("write", done, total)`` between chunks."""
        raise NotImplementedError

    def change_reason(self, plan: ImportPlan) -> str:
        return (_("Imported from %(file)s") % {"file": plan.filename})[:100]


def user_office(user: Any) -> Office | None:
    return getattr(user, "office", None) if user is not None else None


# --- Running an import ---------------------------------------------------------------


def import_max_rows() -> int:
    """The most data rows one file may hold (``IMPORT_MAX_ROWS``)."""
    return int(getattr(settings, "IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def import_max_upload_bytes() -> int:
    """The largest file an import reads (``IMPORT_MAX_UPLOAD_BYTES``)."""
    return int(getattr(settings, "IMPORT_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES))


def import_read(*, data: bytes, filename: str, max_rows: int | None = None) -> Sheet:
    return sheet_read(
        data,
        filename=filename,
        max_rows=import_max_rows() if max_rows is None else max_rows,
        max_bytes=import_max_upload_bytes(),
    )


def _file_error(importer: Importer, filename: str, exc: SheetError) -> ImportPlan:
    plan = ImportPlan(kind=importer.kind, filename=filename)
    plan.errors.append(RowIssue(1, "", str(exc)))
    return plan


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for the block, on again after it (if it was on).

    An import holds its file, its rows and its plan (at 100,000 rows, millions of
    objects) and allocates more as it goes; each full collection walks all of them,
    and at 100,000 project rows the collections took about 5 s of the import. They
    free next to nothing: the objects live until the import ends. The switch is the
    process's (another thread's cycles wait as well, for the import's minute at most);
    two imports overlapping leave it on once the first that found it on is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_preview_steps(*, importer: Importer, data: bytes, filename: str, user: Any) -> Steps:
    """Check a file and say what importing it would do. Writes nothing."""
    with collector_paused():
        yield ("read", 0, 0)
        try:
            sheet = import_read(data=data, filename=filename)
        except SheetError as exc:
            return _file_error(importer, filename, exc)
        return (yield from importer.plan(sheet, user=user, filename=filename, lock=False))


def import_commit_steps(*, importer: Importer, data: bytes, filename: str, user: Any) -> Steps:
    """Check the file again under row locks and write it all in one transaction, or nothing.

    The check is repeated here (not trusted from the preview) because the records
    may have changed since; the matched rows are locked in primary-key order, so a
    concurrent edit waits instead of being overwritten, and two imports of
    overlapping files cannot deadlock. Imports of one kind into one office (of
    enterprises: into the shared directory) also take a transaction-level advisory
    lock, so a double-clicked "Import" or two people importing the same new rows
    run one after the other: the second sees the first's rows and creates no
    duplicates (rows without a unique key hold no lock to wait on otherwise). The
    transaction stays open across the yields: a consumer that stops early (a
    closed browser) closes the generator, which rolls everything back.
    """
    with collector_paused():
        return (yield from _commit_steps(importer=importer, data=data, filename=filename, user=user))


def _commit_steps(*, importer: Importer, data: bytes, filename: str, user: Any) -> Steps:
    yield ("read", 0, 0)
    try:
        sheet = import_read(data=data, filename=filename)
    except SheetError as exc:
        return _file_error(importer, filename, exc)
    try:
        with transaction.atomic():
            _serialise_imports(importer, user)
            plan = yield from importer.plan(sheet, user=user, filename=filename, lock=True)
            if not plan.ok:
                return plan
            yield from importer.write(plan, user=user)
            if not plan.ok:
                # A row failed while writing (a rule only the service knows): undo everything.
                transaction.set_rollback(True)
                return plan
            plan.committed = True
            return plan
    except (IntegrityError, OperationalError) as exc:
        # A concurrent writer took a unique value (a credit code, an external id) first,
        # or PostgreSQL broke a deadlock with a writer of the same rows by aborting us.
        if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) not in _RETRYABLE:
            raise
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


_RETRYABLE = {"40P01", "40001"}  # deadlock detected, serialization failure


def _serialise_imports(importer: Importer, user: Any) -> None:
    if connection.vendor != "postgresql":
        return  # SQLite runs one writing transaction at a time anyway
    office = user_office(user)
    scope = office.pk if importer.needs_office and office else "directory"
    key = int.from_bytes(
        hashlib.blake2b(f"import:{importer.kind}:{scope}".encode(), digest_size=8).digest(), "big", signed=True
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def run_steps(steps: Steps, progress: Progress | None = None) -> ImportPlan:
    """Drive a running import to its end, reporting each step to ``progress``."""
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(*step)


def import_preview(
    *, importer: Importer, data: bytes, filename: str, user: Any, progress: Progress | None = None
) -> ImportPlan:
    """:func:`import_preview_steps` run to its end."""
    return run_steps(import_preview_steps(importer=importer, data=data, filename=filename, user=user), progress)


def import_commit(
    *, importer: Importer, data: bytes, filename: str, user: Any, progress: Progress | None = None
) -> ImportPlan:
    """:func:`import_commit_steps` run to its end."""
    return run_steps(import_commit_steps(importer=importer, data=data, filename=filename, user=user), progress)


def labels_in_every_language(choices: Sequence[tuple[str, Any]]) -> list[tuple[str, str]]:
    """``(value, label)`` for each choice in each language of the site: a file exported in
    Chinese imports while English is active, and the other way round."""
    result = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            result.extend((value, str(label)) for value, label in choices)
    return result


def diff_values(instance: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if getattr(instance, name) != value}


# --- Template files -------------------------------------------------------------------


def import_template(*, importer: Importer, fmt: str) -> bytes:
    """An empty file to fill in: the kind's headers (required ones marked ``*``); an .xlsx also
    carries a sheet explaining each column and a sheet of park and stage codes."""
    columns = importer.importable_columns()
    out = [OutColumn(c.header() + ("*" if c.required else ""), "text", c.width) for c in columns]
    if fmt == CSV:
        return b"".join(sheet_write_csv(columns=out, rows=[]))
    help_columns = [
        OutColumn(_("Column"), width=26),
        OutColumn(_("Also accepted"), width=40),
        OutColumn(_("Required"), width=10),
        OutColumn(_("Notes"), width=70),
    ]
    help_rows = [
        [
            c.header(),
            ", ".join(dict.fromkeys(h for h in (c.zh, c.en, *c.aliases) if h != c.header())),
            _("yes") if c.required else "",
            str(c.help),
        ]
        for c in columns
    ]
    help_rows.append(["", "", "", ""])
    help_rows.append(
        [
            _("Rows"),
            "",
            "",
            _(
                "The header is row 1; errors name the row number Excel shows. Blank cells leave existing values "
                "unchanged. Nothing is imported while any row has an error."
            ),
        ]
    )
    code_columns = [
        OutColumn(_("Code"), width=36),
        OutColumn(_("Name"), width=30),
        OutColumn(_("English name"), width=40),
    ]
    code_rows: list[list[Any]] = [[_("Parks"), "", ""]]
    code_rows += [[p.code, p.name, p.name_en] for p in Park.objects.order_by("code")]
    code_rows += [["", "", ""], [_("Stages (chain/stage)"), "", ""]]
    code_rows += [
        [f"{s.chain.code}/{s.code}", f"{s.chain.name} · {s.name}", s.name_en]
        for s in Stage.objects.select_related("chain").order_by("chain__code", "order", "code")
    ]
    return sheet_write_xlsx(
        columns=out,
        rows=[],
        title=str(importer.verbose_name),
        extra_sheets=[(str(_("Help")), help_columns, help_rows), (str(_("Codes")), code_columns, code_rows)],
    )
