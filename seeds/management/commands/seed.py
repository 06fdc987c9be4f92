"""``manage.py seed [--demo]``: load the Taixin reference data, and the illustrative demo.

Idempotent: a second run reports everything unchanged and writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from seeds.demo_loader import DEMO_PASSWORD_ENV, demo_password, load_demo
from seeds.reference_loader import load_reference
from seeds.upserts import SeedTally


class Command(BaseCommand):
    help = "Load the reference data (zone, parks, sectors, chains, stages, reference enterprises); --demo adds illustrative offices, users and pipeline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Also load the illustrative demo data (offices, users, enterprises, projects, follow-ups), marked as demo.",
        )

    def handle(self, *args: Any, demo: bool = False, **options: Any) -> None:
        verbosity = int(options.get("verbosity", 1))
        tally = load_reference(tally=SeedTally())
        logins: list[tuple[str, str]] = []
        if demo:
            logins = load_demo(tally=tally)
        if verbosity >= 2:
            for line in tally.lines():
                self.stdout.write(f"  {line}")
        changed = tally.changed()
        if changed:
            self.stdout.write(
                self.style.SUCCESS(_("Seed data loaded: %(n)d records created or updated.") % {"n": changed})
            )
        else:
            self.stdout.write(self.style.SUCCESS(_("Seed data already up to date: nothing changed.")))
        if logins:
            password, from_env = demo_password()
            shown = _("the value of %(env)s") % {"env": DEMO_PASSWORD_ENV} if from_env else password
            self.stdout.write(_("Demo logins (illustrative data; password: %(password)s):") % {"password": shown})
            for username, description in logins:
                self.stdout.write(f"  {username:<24} {description}")
