"""``manage.py create_office``: creates an office, refuses bad input with a message and a non-zero exit."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from crm.management.commands.create_office import Command
from crm.models import Office
from tests.factories import ParkFactory


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Messages are asserted in English, the language of the code (the site default is zh-hans)."""
    with translation.override("en"):
        yield


def create_office(*args: str) -> str:
    out = io.StringIO()
    call_command("create_office", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_a_park_office_for_its_park_and_prints_it() -> None:
    ParkFactory(code="yangqu")
    output = create_office("yangqu-office", "--name", "阳曲产业园区招商局", "--kind", "park", "--park", "yangqu")
    office = Office.objects.get(code="yangqu-office")
    assert (office.name, office.kind, office.park.code) == ("阳曲产业园区招商局", "park", "yangqu")
    assert "yangqu-office" in output and "阳曲产业园区招商局" in output and "park yangqu" in output


@pytest.mark.django_db
def test_it_creates_provincial_and_partner_offices_without_a_park() -> None:
    create_office("province", "--name", "省商务厅", "--kind", "provincial")
    create_office("shenzhen", "--name", "驻深圳招商办事处", "--kind", "partner", "--email", "sz@example.org")
    assert set(Office.objects.values_list("code", "kind", "park")) == {
        ("province", "provincial", None),
        ("shenzhen", "partner", None),
    }
    assert Office.objects.get(code="shenzhen").email == "sz@example.org"


@pytest.mark.django_db
def test_the_same_office_twice_is_not_an_error() -> None:
    create_office("province", "--name", "省商务厅", "--kind", "provincial")
    output = create_office("province", "--name", "省商务厅", "--kind", "provincial")
    assert "already exists" in output and "nothing changed" in output
    assert Office.objects.count() == 1


@pytest.mark.django_db
def test_an_existing_code_with_other_settings_is_refused_and_kept() -> None:
    create_office("province", "--name", "省商务厅", "--kind", "provincial")
    with pytest.raises(CommandError, match="already exists with other settings"):
        create_office("province", "--name", "另一个名字", "--kind", "partner")
    office = Office.objects.get(code="province")
    assert (office.name, office.kind) == ("省商务厅", "provincial")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Not a slug!", "--name", "X", "--kind", "partner"], "code"),
        (["ok-code", "--name", "  ", "--kind", "partner"], "name"),
        (["ok-code", "--name", "X", "--kind", "ministry"], "invalid choice"),
        (["ok-code", "--name", "X", "--kind", "park", "--park", "atlantis"], "Unknown park code “atlantis”"),
        (["ok-code", "--name", "X", "--kind", "partner", "--park", "yangqu"], "only for park offices"),
        (["ok-code", "--kind", "partner"], "--name"),
    ],
)
def test_bad_arguments_are_refused_with_a_message_naming_them(args: list[str], message: str) -> None:
    ParkFactory(code="yangqu")
    with pytest.raises(CommandError, match=message):
        create_office(*args)
    assert not Office.objects.exists()


def run_cli(*args: str) -> int:
    """Run the command as ``manage.py`` does and return its exit status."""
    try:
        Command().run_from_argv(["manage.py", "create_office", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.django_db(transaction=True)
def test_from_the_command_line_a_refusal_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("province", "--name", "省商务厅", "--kind", "provincial") == 0
    assert run_cli("province", "--name", "省商务厅", "--kind", "provincial") == 0
    assert run_cli("province", "--name", "别的", "--kind", "provincial") == 1
    assert "already exists with other settings" in capsys.readouterr().err
    assert run_cli("x", "--name", "X", "--kind", "ministry") == 2
    assert "invalid choice: 'ministry'" in capsys.readouterr().err
    assert Office.objects.count() == 1
