"""``manage.py seed``: the Taixin reference data, idempotency and bad input."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import translation

from chains.models import Chain, ChainPark, Park, Sector, Stage, StageEdge, Zone
from crm.models import Enterprise, Presence
from seeds.reference_loader import REFERENCE_FILE, load_reference
from seeds.upserts import load_yaml


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


# --- Reference data --------------------------------------------------------------------


@pytest.mark.django_db
def test_reference_seed_loads_the_taixin_zone_parks_sectors_and_chains() -> None:
    seed()
    zone = Zone.objects.get(code="taixin")
    assert zone.name == "太忻一体化经济区"
    assert zone.target_output_value == Decimal("200000000000")
    assert set(Park.objects.values_list("code", "city")) == {
        ("yangqu", "Taiyuan"),
        ("zhongbei", "Taiyuan"),
        ("xinzhou", "Xinzhou"),
        ("yuanping", "Yuanping"),
    }
    assert Sector.objects.count() == 4
    stages_per_chain = {c.code: c.stages.count() for c in Chain.objects.all()}
    assert stages_per_chain == {
        "stainless-steel": 4,
        "carbon-fibre": 6,
        "bio-polyamide": 4,
        "long-chain-polyamide": 6,
    }
    assert Stage.objects.values("code").distinct().count() == Stage.objects.count() == 20


@pytest.mark.django_db
def test_chains_are_graphs_long_chain_polyamide_feeds_three_stages() -> None:
    seed()
    polyamide = Stage.objects.get(code="lp-polyamide")
    assert sorted(polyamide.feeds.values_list("code", flat=True)) == [
        "lp-clothing",
        "lp-special-nylon",
        "lp-textile-fibre",
    ]
    smelting = Stage.objects.get(code="ss-smelting")
    assert list(smelting.feeds.values_list("code", flat=True)) == ["ss-stainless-steel"]
    assert StageEdge.objects.count() == 3 + 5 + 3 + 5


@pytest.mark.django_db
def test_parks_chains_target_map_and_chain_owners_follow_the_sources() -> None:
    seed()
    assert set(ChainPark.objects.values_list("chain__code", "park__code")) == {
        ("stainless-steel", "zhongbei"),
        ("stainless-steel", "yangqu"),
        ("carbon-fibre", "yangqu"),
        ("bio-polyamide", "yangqu"),
        ("long-chain-polyamide", "yangqu"),
    }
    deep = Stage.objects.get(code="ss-deep-processing")
    assert set(deep.target_parks.values_list("code", flat=True)) == {"zhongbei", "yangqu"}
    assert Chain.objects.get(code="stainless-steel").owner_enterprise.name == "太原钢铁（集团）有限公司"
    cathay = Chain.objects.get(code="bio-polyamide").owner_enterprise
    assert cathay.name == "凯赛（太原）生物科技有限公司" and cathay.office is None and cathay.source
    assert Chain.objects.filter(chain_chief="").count() == 4  # not in the sources: left blank


@pytest.mark.django_db
def test_every_reference_fact_carries_its_source() -> None:
    seed()
    for model in (Zone, Park, Sector, Chain):
        assert not model.objects.filter(source="").exists(), model
    assert not ChainPark.objects.filter(source="").exists()
    assert not Enterprise.objects.filter(source="").exists()
    presences = Presence.objects.all()
    assert {(p.enterprise.external_id, p.park.code, p.stage.code) for p in presences} == {
        ("ref-tisco", "zhongbei", "ss-smelting"),
        ("ref-tisco", "zhongbei", "ss-stainless-steel"),
        ("ref-gangke", "yangqu", "cf-carbon-fibre"),
        ("ref-cathay-taiyuan", "yangqu", "bp-pentanediamine"),
        ("ref-cathay-taiyuan", "yangqu", "bp-polyamide"),
    }
    assert all(p.source for p in presences)
    assert "north-central" in Park.objects.get(code="zhongbei").source


@pytest.mark.django_db
def test_reference_seed_twice_changes_nothing() -> None:
    seed()
    before = table_counts()
    assert "nothing changed" in seed()
    assert table_counts() == before


# --- Bad input -----------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reference.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.django_db
def test_a_stage_code_used_twice_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    data = REFERENCE_FILE.read_text(encoding="utf-8").replace("code: cf-acrylonitrile", "code: ss-smelting")
    with pytest.raises(CommandError, match="ss-smelting"):
        load_reference(path=write(tmp_path, data))
    assert not Zone.objects.exists()


@pytest.mark.django_db
def test_an_unknown_park_in_the_reference_file_is_named(tmp_path: Path) -> None:
    data = REFERENCE_FILE.read_text(encoding="utf-8").replace("targets: [yangqu]", "targets: [atlantis]", 1)
    with pytest.raises(CommandError, match="atlantis"):
        load_reference(path=write(tmp_path, data))
    assert not Park.objects.exists()


def test_a_malformed_data_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not valid YAML"):
        load_yaml(write(tmp_path, "zone: [unclosed"))
    with pytest.raises(CommandError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_seed_with_an_unknown_argument_exits_non_zero_with_a_message() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    result = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "seed", "--everything"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert "unrecognized arguments: --everything" in result.stderr
