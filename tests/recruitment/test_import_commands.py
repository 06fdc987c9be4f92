"""``import_records`` and ``export_records``: the admin import and export from a shell."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command

from crm.models import Enterprise
from crm.roles import STAFF, role_assign
from tests.factories import UserFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def staff(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office)
    role_assign(user=user, role=STAFF)
    return user


def write_csv(path, rows) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    path.write_bytes(out.getvalue().encode("utf-8-sig"))


def test_a_bad_file_prints_every_bad_row_exits_1_and_writes_nothing(tmp_path, staff, capsys):
    path = tmp_path / "bad.csv"
    write_csv(path, [["企业名称", "统一社会信用代码"], ["甲", valid_credit_code(1)], ["", "x"]])
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_records", "enterprises", str(path), user=staff.username)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "row 3, 企业名称:" in err and "row 3, 统一社会信用代码:" in err
    assert Enterprise.objects.count() == 0


def test_a_good_file_imports_and_exports_back(tmp_path, staff, capsys):
    path = tmp_path / "good.csv"
    write_csv(path, [["企业名称", "统一社会信用代码"], ["甲", valid_credit_code(1)], ["乙", ""]])
    call_command("import_records", "enterprises", str(path), "--check", user=staff.username)
    assert Enterprise.objects.count() == 0
    call_command("import_records", "enterprises", str(path), user=staff.username)
    assert Enterprise.objects.count() == 2
    out = tmp_path / "out.csv"
    call_command("export_records", "enterprises", user=staff.username, format="csv", output=str(out))
    names = {row["企业名称"] for row in csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig")))}
    assert names == {"甲", "乙"}


def test_an_unknown_column_is_an_error_naming_it_and_nothing_is_imported(tmp_path, staff, capsys):
    path = tmp_path / "typo.csv"
    write_csv(path, [["企业名称", "registerd_capital"], ["甲", "100"], ["乙", "200"]])
    for check in (True, False):
        with pytest.raises(SystemExit) as exit_info:
            call_command(
                "import_records", "enterprises", str(path), *(["--check"] if check else []), user=staff.username
            )
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        # The command speaks the site's language: the column is named in both the place and the message.
        line = next(line for line in err.splitlines() if line.startswith("row 1, registerd_capital: "))
        assert "“registerd_capital”" in line and "B" in line
        assert "Nothing was imported." in err
    assert Enterprise.objects.count() == 0


def test_values_in_a_column_without_header_are_an_error_and_nothing_is_imported(tmp_path, staff, capsys):
    path = tmp_path / "unnamed.csv"
    write_csv(path, [["企业名称", "", "城市"], ["甲", "", "太原"], ["乙", "x", "忻州"], ["丙", "", "", "", "9"]])
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_records", "enterprises", str(path), user=staff.username)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    lines = {line.split(":")[0]: line for line in err.splitlines() if line.startswith("row 1, ")}
    assert set(lines) == {"row 1, B", "row 1, E"}
    assert "3" in lines["row 1, B"].split(": ", 1)[1] and "4" in lines["row 1, E"].split(": ", 1)[1]
    assert Enterprise.objects.count() == 0
