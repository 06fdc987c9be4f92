"""``manage.py seed --demo``: illustrative, labelled, valid, idempotent, and enough for every screen.

The demo is loaded once for the module (it takes seconds) inside a transaction
rolled back at the end, and each test runs in a savepoint inside it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone, translation
from stdnum.cn import uscc

from chains.models import Park, Stage
from crm.credit_code import credit_code_error
from crm.models import ChangeEntry, Enterprise, Office, User
from recruitment.gaps import gap_candidates, gaps_list
from recruitment.models import FollowUp, Project
from recruitment.pipeline import ALLOWED, Status
from seeds.demo_loader import DEFAULT_DEMO_PASSWORD, _Demo, demo_credit_code, demo_password
from seeds.upserts import SeedTally


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def table_counts() -> dict[str, int]:
    """Rows in every table of the database, history and change feed included."""
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


@pytest.fixture(scope="module")
def demo_db(django_db_setup, django_db_blocker, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The reference data and the demo, loaded once for this module and rolled back after it
    (its evidence files in a directory of the test's own)."""
    with override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("media"))):
        with django_db_blocker.unblock():
            with transaction.atomic():
                output = seed("--demo", "--allow-published-password")
                yield output
                transaction.set_rollback(True)


# --- Demo data ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_seeding_the_demo_again_adds_no_row_to_any_table(demo_db) -> None:  # type: ignore[no-untyped-def]
    before = table_counts()
    feed_head = ChangeEntry.objects.order_by("-txid", "-seq").values_list("txid", "seq").first()
    versions = sorted(Project.objects.values_list("pk", "version"))
    output = seed("--demo", "--allow-published-password")
    assert "nothing changed" in output
    after = table_counts()
    assert {t: (before[t], after[t]) for t in before if before[t] != after[t]} == {}
    assert ChangeEntry.objects.order_by("-txid", "-seq").values_list("txid", "seq").first() == feed_head
    assert sorted(Project.objects.values_list("pk", "version")) == versions
    assert before["crm_historicalenterprise"] > 0 and before["recruitment_historicalproject"] > 0


@pytest.mark.django_db
def test_demo_projects_cover_every_status_with_a_true_history(demo_db) -> None:  # type: ignore[no-untyped-def]
    assert set(Project.objects.values_list("status", flat=True)) == set(Status.values)
    for project in Project.objects.prefetch_related("status_changes"):
        changes = list(project.status_changes.all())
        assert (changes[0].from_status, changes[0].to_status) == ("", Status.LEAD)
        for previous, change in zip(changes, changes[1:], strict=False):
            assert change.from_status == previous.to_status
            assert change.to_status in ALLOWED[change.from_status]
            assert change.changed_at >= previous.changed_at
        assert changes[-1].to_status == project.status
        if project.status == Status.LOST:
            assert project.lost_reason


@pytest.mark.django_db
def test_every_demo_credit_code_is_valid(demo_db) -> None:  # type: ignore[no-untyped-def]
    codes = list(Enterprise.objects.filter(is_demo=True).values_list("credit_code", flat=True))
    assert len(codes) >= 30
    assert all(code and credit_code_error(code) is None and uscc.is_valid(code) for code in codes)


@pytest.mark.django_db
def test_demo_data_is_labelled_as_illustrative(demo_db) -> None:  # type: ignore[no-untyped-def]
    demo_offices = Office.objects.filter(code__startswith="demo-")
    assert demo_offices.count() == 7
    assert all(o.is_demo and "示例" in o.name for o in demo_offices)
    assert set(demo_offices.values_list("kind", flat=True)) == {"provincial", "park", "partner"}
    assert all(e.is_demo and "示例" in e.name for e in Enterprise.objects.exclude(office=None))
    assert all(p.is_demo and "示例" in p.title for p in Project.objects.all())
    assert not Enterprise.objects.filter(office=None, is_demo=True).exists()  # reference stays reference


@pytest.mark.django_db
def test_demo_gap_map_shows_covered_weak_missing_and_filled_stages(demo_db) -> None:  # type: ignore[no-untyped-def]
    rows = gaps_list()
    assert {r.status for r in rows} == {"covered", "weak", "missing"}
    assert any(r.being_filled and r.status == "missing" for r in rows)
    assert any(r.open_projects and not r.being_filled for r in rows)
    zhongbei = Office.objects.get(code="demo-zhongbei")
    candidates = gap_candidates(
        park=Park.objects.get(code="zhongbei"), stage=Stage.objects.get(code="ss-deep-processing"), office=zhongbei
    )
    assert any(c.courted_by_other_office for c in candidates)
    assert candidates[0].present_elsewhere == ["yangqu"]


@pytest.mark.django_db
def test_demo_follow_ups_are_due_soon_and_overdue(demo_db) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    open_ = FollowUp.objects.filter(status=FollowUp.Status.OPEN)
    assert open_.filter(due_at__lt=now).count() >= 3
    assert open_.filter(due_at__gte=now, due_at__lt=now + timedelta(days=2)).count() >= 3
    assert FollowUp.objects.filter(status=FollowUp.Status.DONE).exists()


@pytest.mark.django_db
def test_demo_logins_are_staff_not_superusers(demo_db) -> None:  # type: ignore[no-untyped-def]
    demo = User.objects.get(username="demo")
    assert demo.office.kind == "provincial" and demo.is_manager and demo.is_staff
    assert not demo.is_superuser
    assert demo.check_password(DEFAULT_DEMO_PASSWORD)
    yangqu = User.objects.get(username="demo-yangqu")
    assert yangqu.office.park.code == "yangqu" and not yangqu.is_manager
    assert set(yangqu.groups.values_list("name", flat=True)) == {"staff"}
    assert "demo-yangqu" in demo_db and DEFAULT_DEMO_PASSWORD in demo_db


@pytest.mark.django_db
def test_demo_password_comes_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DEMO_PASSWORD", "another-secret-9")
    assert demo_password() == ("another-secret-9", True)
    data = {
        "offices": [{"code": "demo-x", "kind": "partner", "name": "X（示例）"}],
        "users": [{"username": "demo-x", "office": "demo-x", "role": "staff"}],
    }
    loader = _Demo(data, SeedTally())
    loader.load_offices()
    loader.load_users()
    assert User.objects.get(username="demo-x").check_password("another-secret-9")
    monkeypatch.delenv("DEMO_PASSWORD")
    assert demo_password() == (DEFAULT_DEMO_PASSWORD, False)


def test_demo_credit_codes_are_computed_valid_and_refuse_a_bad_region() -> None:
    code = demo_credit_code("140100", 7)
    assert code.startswith("91140100MA0000007") and uscc.is_valid(code)
    with pytest.raises(CommandError, match="region"):
        demo_credit_code("14A100", 7)


# --- The monthly ledger's demo ------------------------------------------------------------------

DEMO_PARKS = ("demo-yangqu", "demo-zhongbei", "demo-xinzhou", "demo-yuanping")


@pytest.mark.django_db
def test_demo_ledgers_cover_twelve_months_submitted_late_and_missed_with_a_correction(demo_db) -> None:  # type: ignore[no-untyped-def]
    from ledger.models import LedgerCorrection, LedgerSubmission
    from ledger.selectors import ledger_month

    last = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    months = [last]
    while len(months) < 12:
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    submitted = set(LedgerSubmission.objects.values_list("office__code", "month"))
    # The first park submits every month (the last one once the 3rd of this month is past).
    assert {m for o, m in submitted if o == "demo-yangqu"} >= set(months[1:])
    assert ("demo-xinzhou", months[6]) not in submitted  # a missed report
    assert ("demo-yuanping", months[0]) not in submitted  # last month: still open or missed
    assert LedgerSubmission.objects.filter(late=True).count() >= 4
    assert LedgerSubmission.objects.filter(late=False).count() >= 30
    correction = LedgerCorrection.objects.get()
    assert correction.reason and correction.reported_in is not None
    assert correction.entry.corrects is not None and correction.month == months[9]
    # The ledger of a month two months back: projects with figures, from the stored snapshot.
    yangqu = Office.objects.get(code="demo-yangqu")
    ledger = ledger_month(office=yangqu, month=months[1])
    assert ledger["submitted_at"] and len(ledger["rows"]) >= 3
    assert sum(float(r["investment_cumulative"]) for r in ledger["rows"]) > 0
    assert float(ledger["totals"]["funds_total"]) > 0


@pytest.mark.django_db
def test_demo_evidence_files_are_real_pdfs_and_pngs_through_the_storage(demo_db) -> None:  # type: ignore[no-untyped-def]
    from ledger.models import EvidenceFile

    files = list(EvidenceFile.objects.all())
    assert len(files) >= 30
    assert {f.content_type for f in files} == {"application/pdf", "image/png"}
    assert {f.kind for f in files} >= {"contract", "bank_slip", "licence", "permit"}
    for f in files[:5] + files[-5:]:
        with f.file.open("rb") as body:
            head = body.read(8)
        assert head.startswith(b"%PDF-") or head == b"\x89PNG\r\n\x1a\n"
        assert f.size < 20_000


@pytest.mark.django_db
def test_demo_schemes_give_every_park_points_that_drill_down(demo_db, client) -> None:  # type: ignore[no-untyped-def]
    from ledger.assessment import assessment_scores
    from ledger.models import AssessmentScheme

    schemes = list(AssessmentScheme.objects.filter(code__startswith="demo-"))
    assert {s.code.rsplit("-", 1)[0] for s in schemes} == {"demo-province", "demo-city"}
    province = next(s for s in schemes if s.code.startswith("demo-province"))
    scores = assessment_scores(scheme=province)
    assert {s.office.code for s in scores} >= set(DEMO_PARKS)
    assert all(s.total > 0 for s in scores if s.office.code in DEMO_PARKS)
    assert any(s.facts.behind.get("investment") for s in scores)
    assert any(a["points"] > 0 for s in scores for a in s.adjustments)
    client.force_login(User.objects.get(username="demo"))
    page = client.get(f"/admin/ledger/leaderboard/{province.code}/")
    assert page.status_code == 200
    assert "阳曲产业园区招商局（示例）" in page.content.decode()
    client.force_login(User.objects.get(username="demo-yangqu-manager"))
    monthly = client.get("/admin/ledger/monthly/")
    assert monthly.status_code == 200 and "示例" in monthly.content.decode()


@pytest.mark.parametrize("username", ["demo", "demo-yangqu-manager", "demo-yangqu"])
def test_every_admin_change_list_renders_the_demo_rows(demo_db, client, username) -> None:  # type: ignore[no-untyped-def]
    """Every column of every change list, and the first row's page, on the demo's rows (a display bug is a 500)."""
    from django.contrib import admin
    from django.urls import NoReverseMatch, reverse

    client.force_login(User.objects.get(username=username))
    opened = 0
    for model in admin.site._registry:
        try:
            url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except NoReverseMatch:
            continue
        response = client.get(url)  # the test client raises what a 500 would hide
        assert response.status_code in (200, 302, 403), (url, response.status_code)
        opened += response.status_code == 200
        shown = response.context["cl"].result_list[:1] if response.status_code == 200 else []
        for obj in shown:  # and the page of the first row
            change = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
            assert client.get(change).status_code in (200, 302, 403), change
    assert opened > 20
