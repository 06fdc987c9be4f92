"""Signed projects with dated status changes, amounts and progress, for the ledger's tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.utils import timezone

from ledger import services
from recruitment.landing import progress_record
from recruitment.pipeline import Status
from recruitment.services import project_create, project_transition, project_update
from tests.factories import EnterpriseFactory, ParkFactory, StageFactory


def at(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour))


class Ledgerbook:
    """Writes dated facts through the services, as they happened."""

    def __init__(self, office, park=None) -> None:  # type: ignore[no-untyped-def]
        self.office = office
        self.park = park or ParkFactory()

    def signed(self, when: dt.datetime, *, amount: str, title: str = "项目", **kwargs: Any):  # type: ignore[no-untyped-def]
        with time_machine.travel(when):
            return project_create(
                office=self.office,
                stages=kwargs.pop("stages", None) or [StageFactory()],
                title=title,
                enterprise=kwargs.pop("enterprise", None) or EnterpriseFactory(),
                park=self.park,
                status=Status.SIGNED,
                signed_amount=Decimal(amount),
                **kwargs,
            )

    def move(self, project, to: str, when: dt.datetime, **kwargs: Any) -> None:  # type: ignore[no-untyped-def]
        with time_machine.travel(when):
            project_transition(project=project, to=to, **kwargs)

    def amount(self, project, amount: str, when: dt.datetime) -> None:  # type: ignore[no-untyped-def]
        with time_machine.travel(when):
            project_update(project=project, signed_amount=Decimal(amount))

    def entry(self, project, kind: str, month: dt.date, when: dt.datetime, *, evidence: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        if "amount" in kwargs:
            kwargs["amount"] = Decimal(kwargs["amount"])
        with time_machine.travel(when):
            entry = progress_record(project=project, kind=kind, month=month, now=when, **kwargs)
        if evidence:
            evidence_attach(entry)
        return entry


def evidence_attach(entry, name: str = "slip.pdf"):  # type: ignore[no-untyped-def]
    return services.evidence_attach(entry=entry, upload=ContentFile(b"%PDF-1.4 slip", name=name), kind="bank_slip")


@pytest.fixture
def book(park_office) -> Ledgerbook:  # type: ignore[no-untyped-def]
    return Ledgerbook(park_office)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = str(tmp_path / "media")
