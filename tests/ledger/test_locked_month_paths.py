"""The locked-month rule on every path that writes a progress entry.

Once a park office has submitted a month, an entry for that month is refused unless
it is a correction with a reason, and a correction is marked as one of the locked
month. The paths: the service, the API's create, upsert by external id and bulk
(item by item, all or nothing), the admin's add form. There is no import layout
for progress. The rule is an explicit call of ``progress_record`` into the ledger
(``recruitment.landing.progress_hooks_register``), not a model signal.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save

from crm.models import Office
from ledger.models import LedgerCorrection
from ledger.services import ledger_submit
from recruitment.landing import progress_record
from recruitment.landing_models import ProgressEntry
from tests.api.conftest import api_for
from tests.crm.test_admin_support import admin_url, sign_in
from tests.ledger.conftest import Ledgerbook, at

JAN, FEB = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
NOW = at(2026, 2, 10)


def _service(book: Ledgerbook, project, values: dict[str, Any], client) -> tuple[bool, set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    corrects = ProgressEntry.objects.get(pk=values["corrects"]) if values.get("corrects") else None
    try:
        progress_record(
            project=project,
            kind="investment",
            month=values["month"],
            amount=Decimal(values["amount"]),
            corrects=corrects,
            reason=values.get("reason", ""),
            now=NOW,
        )
    except ValidationError as exc:
        return False, {(field, e.code) for field, errors in exc.error_dict.items() for e in errors}
    return True, set()


def _api_body(project, values: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {
        "project": str(project.pk),
        "month": f"{values['month']:%Y-%m}",
        "kind": "investment",
        "amount": values["amount"],
    }
    if values.get("corrects"):
        body.update(corrects=str(values["corrects"]), reason=values["reason"])
    return body


def _api_errors(response) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(e["attr"].rsplit(".", 1)[-1], e["code"]) for e in response.json()["errors"]}


def _api_create(book: Ledgerbook, project, values: dict[str, Any], client) -> tuple[bool, set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    r = api_for(book.office).post("progress/", _api_body(project, values))
    assert r.status_code in (201, 400), r.content
    return r.status_code == 201, set() if r.status_code == 201 else _api_errors(r)


def _api_upsert(book: Ledgerbook, project, values: dict[str, Any], client) -> tuple[bool, set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    ext = f"ext-{ProgressEntry.objects.count()}"
    r = api_for(book.office).put(f"progress/external/{ext}/", _api_body(project, values))
    assert r.status_code in (201, 400), r.content
    return r.status_code == 201, set() if r.status_code == 201 else _api_errors(r)


def _api_bulk(book: Ledgerbook, project, values: dict[str, Any], client) -> tuple[bool, set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    """The entry as the second item of a bulk whose first item is plainly valid: all or nothing."""
    n = ProgressEntry.objects.count()
    valid = {**_api_body(project, {"month": FEB, "amount": "1.00"}), "external_id": f"bulk-ok-{n}"}
    item = {**_api_body(project, values), "external_id": f"bulk-{n}"}
    r = api_for(book.office).post("progress/bulk/", {"items": [valid, item]})
    assert r.status_code in (200, 400), r.content
    if r.status_code == 200:
        return True, set()
    assert all(e["attr"].startswith("items.1.") for e in r.json()["errors"]), r.content
    assert ProgressEntry.objects.count() == n  # the valid item was not written either
    return False, _api_errors(r)


def _admin(book: Ledgerbook, project, values: dict[str, Any], client) -> tuple[bool, set[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    data = {
        "project": project.pk,
        "month": values["month"].replace(day=14).isoformat(),
        "kind": "investment",
        "amount": values["amount"],
        "milestone": "",
        "corrects": values.get("corrects") or "",
        "reason": values.get("reason", ""),
    }
    response = client.post(admin_url(ProgressEntry, "add"), data)
    if response.status_code == 302:
        return True, set()
    errors = response.context["adminform"].form.errors.as_data()
    return False, {(field, e.code) for field, errs in errors.items() for e in errs}


PATHS: dict[str, Callable[..., tuple[bool, set[tuple[str, str]]]]] = {
    "service": _service,
    "api_create": _api_create,
    "api_upsert": _api_upsert,
    "api_bulk": _api_bulk,
    "admin": _admin,
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(PATHS))
def test_every_path_refuses_an_entry_for_a_locked_month_unless_it_is_a_marked_correction(
    path: str, book: Ledgerbook, park_user, client
) -> None:  # type: ignore[no-untyped-def]
    write = PATHS[path]
    project = book.signed(at(2026, 1, 10), amount="1000")
    first = book.entry(project, "investment", JAN, at(2026, 1, 30), amount="100")
    submission = ledger_submit(office=book.office, month=JAN, now=at(2026, 2, 3))
    sign_in(client, park_user)
    with time_machine.travel(NOW, tick=False):
        # A plain entry for the locked month: refused, naming the field and the code; nothing written.
        before = ProgressEntry.objects.count()
        ok, errors = write(book, project, {"month": JAN, "amount": "5.00"}, client)
        assert (ok, errors) == (False, {("reason", "locked_month")})
        assert ProgressEntry.objects.count() == before and not LedgerCorrection.objects.exists()

        # A correction with its reason: written and marked as a correction of the locked month.
        ok, errors = write(
            book, project, {"month": JAN, "amount": "120.00", "corrects": first.pk, "reason": "审计核减"}, client
        )
        assert (ok, errors) == (True, set())
        fix = ProgressEntry.objects.get(corrects=first)
        mark = LedgerCorrection.objects.get(entry=fix)
        assert (mark.month, mark.submission, mark.reason) == (JAN, submission, "审计核减")

        # A month not submitted takes plain entries, unmarked.
        ok, _errors = write(book, project, {"month": FEB, "amount": "7.00"}, client)
        assert ok
        assert LedgerCorrection.objects.count() == 1


def test_the_rule_is_an_explicit_call_not_a_model_signal() -> None:
    """A set-based write (bulk_create, COPY) would skip a signal; progress_record calls the ledger instead."""
    assert not pre_save.has_listeners(ProgressEntry)
    assert not post_save.has_listeners(ProgressEntry)
    from recruitment import landing

    assert "ledger.locked_month" in landing._PROGRESS_HOOKS


# Row locks between two connections: PostgreSQL's (SQLite serialises writers on one database lock).
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_entry_recorded_while_the_month_is_being_submitted_waits_and_is_refused(park_office) -> None:  # type: ignore[no-untyped-def]
    """The submission holds the office row; the entry's check waits for it instead of reading the month as open."""
    book = Ledgerbook(park_office)
    project = book.signed(at(2026, 1, 10), amount="1000")
    locked, release = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def submit() -> None:
        try:
            with transaction.atomic():
                Office.objects.select_for_update().get(pk=park_office.pk)  # where ledger_submit starts
                locked.set()
                release.wait(10)
                ledger_submit(office=park_office, month=JAN, now=at(2026, 2, 3))
        finally:
            connection.close()

    def record() -> None:
        try:
            progress_record(project=project, kind="investment", month=JAN, amount=Decimal("5"), now=at(2026, 2, 3, 11))
            outcome["written"] = True
        except ValidationError as exc:
            outcome["refused"] = [e.code for errors in exc.error_dict.values() for e in errors]
        finally:
            connection.close()

    submitter = threading.Thread(target=submit)
    submitter.start()
    assert locked.wait(10)
    recorder = threading.Thread(target=record)
    recorder.start()
    recorder.join(0.5)
    assert recorder.is_alive()  # waiting for the submission
    release.set()
    submitter.join(10)
    recorder.join(10)
    assert outcome == {"refused": ["locked_month"]}
    assert not ProgressEntry.objects.filter(project=project).exists()
