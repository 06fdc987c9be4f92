"""``manage.py export_records KIND --user NAME [--format xlsx|csv] [--output FILE]``.

The admin export, from a shell: the records ``NAME`` may see (tenancy applies),
in the import's layout, money in CNY and 万元.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from crm.exports import export_response
from crm.spreadsheets import FORMATS, XLSX
from recruitment.exports import EXPORTERS


class Command(BaseCommand):
    help = "Export enterprises, contacts or projects to an .xlsx or .csv file."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("kind", choices=sorted(EXPORTERS))
        parser.add_argument("--user", required=True, help="User name whose view of the data is exported.")
        parser.add_argument("--format", choices=FORMATS, default=XLSX)
        parser.add_argument("--output", type=Path, help="File to write (default: KIND.FORMAT).")

    def handle(self, *args: Any, **options: Any) -> None:
        exporter = EXPORTERS[options["kind"]]
        try:
            user = get_user_model().objects.select_related("office").get(username=options["user"])
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user {options['user']!r}.") from exc
        fmt = options["format"]
        output = Path(options["output"] or f"{exporter.kind}.{fmt}")
        response = export_response(exporter=exporter, queryset=None, user=user, fmt=fmt)
        try:
            with output.open("wb") as handle:
                for chunk in response.streaming_content:
                    handle.write(chunk)
        finally:
            response.close()
        self.stdout.write(str(output))
