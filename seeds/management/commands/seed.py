"""``manage.py seed [--demo]``: load the Taixin reference data, and the illustrative demo.

Idempotent: a second run reports everything unchanged and writes nothing.

The demo logins share a password printed in the README. With ``DJANGO_DEBUG`` off
``--demo`` refuses to run unless ``DEMO_PASSWORD`` sets another password or
``--allow-published-password`` says that a public demo is meant.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
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
        parser.add_argument(
            "--allow-published-password",
            action="store_true",
            help=f"With DJANGO_DEBUG off, create the demo logins with the published password anyway "
            f"(set {DEMO_PASSWORD_ENV} instead to give them a password of your own).",
        )

    def handle(self, *args: Any, demo: bool = False, allow_published_password: bool = False, **options: Any) -> None:
        verbosity = int(options.get("verbosity", 1))
        if demo and not settings.DEBUG and not allow_published_password and not demo_password()[1]:
            raise CommandError(
                _(
                    "Refusing to create demo logins with the published password while DJANGO_DEBUG is off. "
                    "Set %(env)s to a password of your own, or pass --allow-published-password for a public demo."
                )
                % {"env": DEMO_PASSWORD_ENV}
            )
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
            # The last line is the one to remember; `runproduct` repeats it in its banner.
            self.stdout.write(
                _("Demo login: %(user)s / %(password)s   (the other demo users are listed above)")
                % {"user": logins[0][0], "password": f"${DEMO_PASSWORD_ENV}" if from_env else password}
            )
