"""``manage.py create_office CODE --name NAME --kind provincial|park|partner [--park PARK]``.

For operators setting up a deployment. Refuses a bad code, kind or park, and an
existing code with different settings (exit status 1, nothing written); the same
office twice is not an error, so provisioning scripts can run it again.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from chains.selectors import park_by_code
from crm.models import Office


def _describe(office: Office) -> str:
    park = f", park {office.park.code}" if office.park_id else ""
    return f"{office.code}: {office.name} ({office.kind}{park})"


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Create an office (provincial department, park office or partner office)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code", help="Stable code (letters, digits, hyphens, underscores), e.g. yangqu-office.")
        parser.add_argument("--name", required=True, help="Display name, e.g. 阳曲产业园区招商局.")
        parser.add_argument("--kind", required=True, choices=Office.Kind.values, help="What the office may see.")
        parser.add_argument("--park", default="", help="For a park office: the code of the park it runs.")
        parser.add_argument("--email", default="", help="The office's shared e-mail address.")

    def handle(self, *args: Any, **options: Any) -> None:
        code, name, kind = options["code"].strip(), options["name"].strip(), options["kind"]
        park = None
        if options["park"]:
            if kind != Office.Kind.PARK:
                raise CommandError(_("--park is only for park offices (this one is %(kind)s).") % {"kind": kind})
            try:
                park = park_by_code(options["park"])
            except ValidationError as exc:
                raise CommandError(_messages(exc)) from None
        office = Office(code=code, name=name, kind=kind, park=park, email=options["email"].strip())

        existing = Office.objects.filter(code=code).select_related("park").first()
        if existing is not None:
            self._existing(existing, office)
            return
        try:
            office.full_clean(validate_unique=False)
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from None
        try:
            with transaction.atomic():
                office.save()
        except IntegrityError:
            # Created concurrently between our check and our insert.
            existing = Office.objects.select_related("park").get(code=code)
            self._existing(existing, office)
            return
        self.stdout.write(self.style.SUCCESS(_("Created office %(office)s") % {"office": _describe(office)}))
        if kind == Office.Kind.PARK and park is None:
            self.stderr.write(_("Note: no --park given; set the park in admin so the office's gap map has a default."))

    def _existing(self, existing: Office, wanted: Office) -> None:
        same = (existing.name, existing.kind, existing.park_id, existing.email) == (
            wanted.name,
            wanted.kind,
            wanted.park_id,
            wanted.email or existing.email,
        )
        if not same:
            raise CommandError(
                _("An office with code “%(code)s” already exists with other settings: %(office)s. Nothing changed.")
                % {"code": existing.code, "office": _describe(existing)}
            )
        self.stdout.write(
            _("Office %(office)s already exists with these settings; nothing changed.")
            % {"office": _describe(existing)}
        )
