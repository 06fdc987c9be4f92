"""``manage.py create_api_key --office CODE [--read-only] [--label TEXT]``: the key alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.api_keys import api_key_create
from crm.models import Office


class Command(BaseCommand):
    help = "Create an API key for an office and print it (shown only this once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--office", required=True, help="Office code, e.g. shenzhen-liaison.")
        parser.add_argument("--read-only", action="store_true", help="The key may only read.")
        parser.add_argument("--label", default="", help="What the key is for, e.g. the partner system's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        office = Office.objects.filter(code=options["office"]).first()
        if office is None:
            known = ", ".join(Office.objects.order_by("code").values_list("code", flat=True)) or "none yet"
            raise CommandError(f"No office with code {options['office']!r} (known: {known}).")
        issued = api_key_create(office=office, label=options["label"], read_only=options["read_only"])
        mode = "read-only" if issued.api_key.read_only else "read-write"
        self.stderr.write(
            f"Created {mode} key {issued.api_key.prefix}… for {office.code}. It is shown only now; "
            "send it as 'Authorization: Bearer <key>'."
        )
        self.stdout.write(issued.raw)
