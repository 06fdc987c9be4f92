"""``manage.py import_records KIND FILE --user NAME [--check]``: the admin import, from a shell.

Same checks and the same all-or-nothing write as the admin page, on behalf of a
user (whose office the records belong to and whose permissions apply). Every bad
row is printed as ``row N, column: message``; the command then exits with status 1
and writes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from crm.imports import import_commit, import_preview
from recruitment.imports import IMPORTERS


class Command(BaseCommand):
    help = "Import enterprises, contacts or projects from an .xlsx or .csv file (all rows or none)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("kind", choices=sorted(IMPORTERS))
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="User name the import is done as.")
        parser.add_argument("--check", action="store_true", help="Only check the file; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        importer = IMPORTERS[options["kind"]]
        try:
            user = get_user_model().objects.select_related("office").get(username=options["user"])
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user {options['user']!r}.") from exc
        if not user.has_perms(importer.change_perms):
            raise CommandError(f"{user} may not import {importer.kind}.")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc

        def progress(phase: str, done: int, total: int) -> None:
            if total and options["verbosity"] > 1:
                self.stderr.write(f"{phase}: {done}/{total}")

        run = import_preview if options["check"] else import_commit
        plan = run(importer=importer, data=data, filename=path.name, user=user, progress=progress)
        for issue in plan.warnings:
            self.stderr.write(f"note: row {issue.row}, {issue.column or '-'}: {issue.message}")
        for issue in plan.errors:
            self.stderr.write(f"row {issue.row}, {issue.column or '-'}: {issue.message}")
        summary = (
            f"{plan.total} rows: {plan.created} to create, {plan.updated} to update, {plan.unchanged} unchanged, "
            f"{plan.bad_rows} with problems"
        )
        if plan.errors:
            self.stderr.write(f"{summary}. Nothing was imported.")
            sys.exit(1)
        self.stdout.write(f"{summary}." + (" Imported." if plan.committed else " Checked only."))
