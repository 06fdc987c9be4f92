"""Load the illustrative demo data (``seeds/demo/*.yaml``) through the services.

Offices, users with their roles, enterprises with valid credit codes, presences,
contacts, interactions, projects walked through the real pipeline (so the status
history is true), and follow-ups. Everything is keyed — offices by code, users by
username, enterprises by credit code, office records by external id — and written
only when missing or different, so a second run changes nothing.

Projects, interactions and follow-ups that already exist are left as they are:
staff may have moved them along while demonstrating, and a re-seed must not undo it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.cn import uscc

from chains.models import Park, Stage
from crm.models import Contact, Enterprise, Interaction, Office, User
from crm.roles import MANAGER, STAFF, role_assign
from crm.services import contact_create, enterprise_create, enterprise_update, interaction_log
from recruitment.models import FollowUp, Project, ProjectStatusChange
from recruitment.pipeline import IllegalTransition, Status
from recruitment.services import followup_complete, followup_create, project_create, project_transition
from seeds.landing_demo import landing_demo_load
from seeds.ledger_demo import ledger_demo_load
from seeds.reference_loader import pick, presence_ensure
from seeds.upserts import CREATED, UNCHANGED, UPDATED, SeedTally, differing, load_yaml, upsert

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_FILE = DEMO_DIR / "taixin_demo.yaml"
DEMO_PASSWORD_ENV = "DEMO_PASSWORD"
DEFAULT_DEMO_PASSWORD = "chain-recruit-demo"
DEMO_SOURCE = "Illustrative demo data (示例), not a real enterprise."


def demo_password() -> tuple[str, bool]:
    """The demo users' password and whether it came from the environment."""
    value = os.environ.get(DEMO_PASSWORD_ENV, "")
    return (value, True) if value else (DEFAULT_DEMO_PASSWORD, False)


def demo_usernames() -> list[str]:
    """The user names the demo creates."""
    return [spec["username"] for spec in load_yaml(DEMO_FILE).get("users", [])]


def demo_credit_code(region: str, n: int) -> str:
    """A valid, clearly synthetic credit code: 91 + region + MA + n + check digit."""
    if len(region) != 6 or not region.isdigit():
        raise CommandError(_("Demo enterprise %(n)d: region must be 6 digits, got “%(r)s”.") % {"n": n, "r": region})
    body = f"91{region}MA{n:07d}"
    return body + uscc.calc_check_digit(body)


class _Demo:
    """One demo load: the lookups it builds as it goes and the tally of what it did."""

    def __init__(self, data: dict[str, Any], tally: SeedTally) -> None:
        self.data = data
        self.tally = tally
        self.now = timezone.now()
        self.parks = {p.code: p for p in Park.objects.all()}
        self.stages = {s.code: s for s in Stage.objects.all()}
        self.offices: dict[str, Office] = {}
        self.users: dict[str, User] = {}
        self.enterprises: dict[int, Enterprise] = {}

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    # --- offices and users -----------------------------------------------------------

    def load_offices(self) -> None:
        for spec in self.data.get("offices", []):
            park = pick(self.parks, spec["park"], what="park").pk if spec.get("park") else None
            self.offices[spec["code"]] = upsert(
                Office,
                key={"code": spec["code"]},
                values={
                    "name": spec["name"],
                    "kind": spec["kind"],
                    "park_id": park,
                    "email": spec.get("email", ""),
                    "is_demo": True,
                },
                tally=self.tally,
            )

    def load_users(self) -> list[tuple[str, str]]:
        password, _from_env = demo_password()
        logins = []
        for spec in self.data.get("users", []):
            office = pick(self.offices, spec["office"], what="office")
            role = spec["role"]
            if role not in (STAFF, MANAGER):
                raise CommandError(_("User %(u)s: unknown role “%(r)s”.") % {"u": spec["username"], "r": role})
            values = {
                "office_id": office.pk,
                "display_name": spec.get("display_name", ""),
                "email": f"{spec['username']}@example.org",
            }
            user = User.objects.filter(username=spec["username"]).first()
            if user is None:
                user = User(username=spec["username"], **values)
                # Only at creation: rehashing on every run would change the row each time.
                user.set_password(password)
                user.full_clean()
                user.save()
                self.tally.add("user", CREATED)
            elif changed := differing(user, values):
                for name in changed:
                    setattr(user, name, values[name])
                user.save(update_fields=changed)
                self.tally.add("user", UPDATED)
            else:
                self.tally.add("user", UNCHANGED)
            wanted = {STAFF, MANAGER} if role == MANAGER else {STAFF}
            if not wanted <= set(user.groups.values_list("name", flat=True)) or not user.is_staff:
                role_assign(user=user, role=role)
            self.users[user.username] = user
            logins.append((user.username, f"{office.name} · {_('manager') if role == MANAGER else _('staff')}"))
        return logins

    # --- enterprises -----------------------------------------------------------------

    def load_enterprises(self) -> None:
        for spec in self.data.get("enterprises", []):
            n = int(spec["n"])
            code = demo_credit_code(str(spec["region"]), n)
            stages = [pick(self.stages, c, what="stage") for c in spec.get("stages", [])]
            values = {
                "name": spec["name"],
                "name_en": spec.get("name_en", ""),
                "ownership": spec.get("ownership", Enterprise.Ownership.OTHER),
                "province": spec.get("province", ""),
                "city": spec.get("city", ""),
                "registered_capital": Decimal(spec["capital"]) if spec.get("capital") else None,
                "source": DEMO_SOURCE,
                "is_demo": True,
            }
            existing = Enterprise.objects.filter(credit_code=code).first()
            if existing is None:
                enterprise = enterprise_create(
                    office=pick(self.offices, spec["office"], what="office"),
                    stages=stages,
                    credit_code=code,
                    external_id=f"demo-ent-{n:03d}",
                    **values,
                )
                self.tally.add("enterprise", CREATED)
            else:
                changed = differing(existing, values)
                stages_differ = set(existing.stages.values_list("pk", flat=True)) != {s.pk for s in stages}
                if changed or stages_differ:
                    enterprise = enterprise_update(
                        enterprise=existing,
                        stages=stages if stages_differ else None,
                        **{name: values[name] for name in changed},
                    )
                    self.tally.add("enterprise", UPDATED)
                else:
                    enterprise = existing
                    self.tally.add("enterprise", UNCHANGED)
            self.enterprises[n] = enterprise
            for park_code, stage_code in spec.get("presences", []):
                presence_ensure(
                    enterprise=enterprise,
                    park=pick(self.parks, park_code, what="park"),
                    stage=pick(self.stages, stage_code, what="stage"),
                    note="",
                    source=DEMO_SOURCE,
                    tally=self.tally,
                )

    # --- projects and their records --------------------------------------------------

    def load_projects(self) -> None:
        notes: dict[str, str] = self.data.get("transition_notes", {})
        for spec in self.data.get("projects", []):
            office = pick(self.offices, spec["office"], what="office")
            owner = pick(self.users, spec["owner"], what="user")
            enterprise = pick(self.enterprises, spec["enterprise"], what="enterprise")
            contact = self._contact(spec, office=office, enterprise=enterprise)
            project = Project.objects.filter(office=office, external_id=spec["key"]).first()
            if project is None:
                project = self._project(spec, office=office, owner=owner, enterprise=enterprise, notes=notes)
                self.tally.add("project", CREATED)
            else:
                self.tally.add("project", UNCHANGED)
            for i, (kind, days, summary) in enumerate(spec.get("interactions", []), start=1):
                self._interaction(
                    key=f"{spec['key']}-int-{i}",
                    office=office,
                    staff=owner,
                    enterprise=enterprise,
                    project=project,
                    contacts=[contact],
                    kind=kind,
                    days_ago=days,
                    summary=summary,
                )
            for i, fu in enumerate(spec.get("follow_ups", []), start=1):
                self._follow_up(key=f"{spec['key']}-fu-{i}", office=office, owner=owner, project=project, spec=fu)
        for spec in self.data.get("interactions", []):
            self._interaction(
                key=spec["key"],
                office=pick(self.offices, spec["office"], what="office"),
                staff=pick(self.users, spec["staff"], what="user"),
                enterprise=pick(self.enterprises, spec["enterprise"], what="enterprise"),
                project=None,
                contacts=[],
                kind=spec["kind"],
                days_ago=spec["days_ago"],
                summary=spec["summary"],
            )

    def _contact(self, spec: dict[str, Any], *, office: Office, enterprise: Enterprise) -> Contact:
        key = f"{spec['key']}-contact"
        existing = Contact.objects.filter(office=office, external_id=key).first()
        if existing is not None:
            self.tally.add("contact", UNCHANGED)
            return existing
        number = int(spec["key"].rsplit("-", 1)[-1])
        self.tally.add("contact", CREATED)
        return contact_create(
            office=office,
            enterprise=enterprise,
            name=spec["contact"]["name"],
            title=spec["contact"].get("title", ""),
            phone=f"138-0000-{number:04d}",
            email=f"contact-{number:02d}@example.com",
            external_id=key,
        )

    def _project(
        self, spec: dict[str, Any], *, office: Office, owner: User, enterprise: Enterprise, notes: dict[str, str]
    ) -> Project:
        """Create the project and walk it through the pipeline, spreading the moves
        between ``started_days_ago`` and ``last_move_days_ago``."""
        money = {
            name: Decimal(spec[name])
            for name in ("planned_investment", "signed_amount", "funds_in_place", "expected_output_value")
            if spec.get(name)
        }
        project = project_create(
            office=office,
            actor=owner,
            stages=[pick(self.stages, c, what="stage") for c in spec["stages"]],
            title=spec["title"],
            enterprise=enterprise,
            park=pick(self.parks, spec["park"], what="park"),
            owner=owner,
            priority=spec.get("priority", "normal"),
            expected_jobs=spec.get("expected_jobs"),
            description=spec.get("description", _("Illustrative demo project (示例).")),
            external_id=spec["key"],
            is_demo=True,
            **money,
        )
        path: list[str] = spec.get("path", [])
        started = float(spec["started_days_ago"])
        last = float(spec.get("last_move_days_ago", started))
        step = (started - last) / len(path) if path else 0.0
        for i, status in enumerate(path, start=1):
            if status not in Status.values:
                raise CommandError(_("Project %(k)s: unknown status “%(s)s”.") % {"k": spec["key"], "s": status})
            reason = spec.get("lost_reason", "") if status == Status.LOST else ""
            project_transition(
                project=project,
                to=status,
                actor=owner,
                note=reason or notes.get(status, ""),
                reason=reason,
                at=self.days_ago(started - step * i),
            )
        if path:
            # The service-level steps of a lead that has moved on were done in its past.
            for follow_up in project.follow_ups.filter(
                status=FollowUp.Status.OPEN,
                kind__in=[FollowUp.Kind.RESPOND, FollowUp.Kind.ASSESS, FollowUp.Kind.FEEDBACK],
            ):
                followup_complete(follow_up=follow_up, actor=owner)
        # The pipeline stamps creation "now"; a demo pipeline needs a past, so the
        # creation record and timestamp move to the start of the story.
        start = self.days_ago(started)
        ProjectStatusChange.objects.filter(project=project, from_status="").update(changed_at=start)
        Project.objects.filter(pk=project.pk).update(created_at=start, **({} if path else {"status_changed_at": start}))
        return project

    def _interaction(
        self,
        *,
        key: str,
        office: Office,
        staff: User,
        enterprise: Enterprise,
        project: Project | None,
        contacts: list[Contact],
        kind: str,
        days_ago: float,
        summary: str,
    ) -> None:
        if Interaction.objects.filter(office=office, external_id=key).exists():
            self.tally.add("interaction", UNCHANGED)
            return
        interaction_log(
            office=office,
            actor=staff,
            contacts=contacts,
            enterprise=enterprise,
            project=project,
            kind=kind,
            occurred_at=self.days_ago(days_ago),
            summary=summary,
            staff=staff,
            external_id=key,
        )
        self.tally.add("interaction", CREATED)

    def _follow_up(self, *, key: str, office: Office, owner: User, project: Project, spec: dict[str, Any]) -> None:
        if FollowUp.objects.filter(office=office, external_id=key).exists():
            self.tally.add("followup", UNCHANGED)
            return
        if "due_in_hours" in spec:
            due = self.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=int(spec["due_in_hours"]) + 1)
        else:
            morning = timezone.localtime(self.now).replace(hour=9, minute=0, second=0, microsecond=0)
            due = morning + timedelta(days=int(spec["due_in_days"]))
        follow_up = followup_create(
            office=office,
            actor=owner,
            project=project,
            assignee=owner,
            due_at=due,
            note=spec.get("note", ""),
            external_id=key,
        )
        if spec.get("done"):
            followup_complete(follow_up=follow_up, actor=owner)
        self.tally.add("followup", CREATED)


@transaction.atomic
def load_demo(*, path: Path = DEMO_FILE, tally: SeedTally | None = None) -> list[tuple[str, str]]:
    """Load the demo file in one transaction; returns the logins (username, description)."""
    tally = tally or SeedTally()
    demo = _Demo(load_yaml(path), tally)
    try:
        demo.load_offices()
        logins = demo.load_users()
        demo.load_enterprises()
        demo.load_projects()
        landing_demo_load(demo)
        ledger_demo_load(demo)  # after the landing demo: its entries fall in months the ledger demo locks
    except KeyError as exc:
        raise CommandError(
            _("%(file)s: a required key is missing: %(key)s") % {"file": path.name, "key": exc}
        ) from None
    except (ValidationError, IllegalTransition) as exc:
        raise CommandError(_("%(file)s: invalid demo data: %(errors)s") % {"file": path.name, "errors": exc}) from None
    return logins
