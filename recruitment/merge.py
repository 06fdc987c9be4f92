"""Merging a duplicate enterprise into the one that survives.

It spans ``crm`` (contacts, interactions, presences) and ``recruitment``
(projects), so it lives in the higher app.

What a merge does, in one transaction:

* every contact, interaction and project of the duplicate moves to the survivor,
  each through ``crm.records.record_save``: its version goes up by one, its history
  names who merged and why, and the partners' change feed shows the move;
* presences move too; where the survivor is already present at the same stage of
  the same park, the duplicate's presence is dropped (the unique constraint allows
  one) after lending its note and source to the survivor's if those were blank;
* capabilities are united; the survivor keeps its own fields and takes the
  duplicate's only where its own are blank (a credit code, an external id of the
  same office, a website…);
* chains whose chain-owner (链主) was the duplicate now name the survivor, and
  entries merged earlier into the duplicate now point at the survivor;
* only someone who may change both enterprises merges them
  (``crm.access.enterprise_may_change``): below the provincial office, two
  enterprises of the merger's own office; across offices, the provincial office;
* the duplicate is **kept**, marked ``merged_into = survivor``, rather than deleted:
  its own history stays readable, partners that know it by id or external id can be
  told where it went, and an import or a late write that still names it can follow
  the pointer. The survivor's history records "merged from …", the duplicate's
  "merged into …".

Concurrency: both enterprise rows (and any already merged into the duplicate) are
locked with one ``SELECT … FOR NO KEY UPDATE`` ordered by primary key, then the
moved rows likewise (presences, which a merge may delete, with ``FOR UPDATE``). As
in ``crm.records.record_lock_for_change`` and ``crm.bulk``, that queues every other
writer of those rows but not a write that only refers to one of them (a new
contact's foreign-key check takes ``KEY SHARE``); the one statement that moves a
credit code takes the stronger lock itself. Two merges that touch the same
enterprises therefore queue instead of deadlocking, and the second re-reads what
the first left: merging into an entry that has just been merged away is refused
with a clear message, and no row is lost. A record added to the duplicate while
the merge runs lands on the merged entry; merging the same pair again sweeps such
stragglers over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext as _

from chains.models import Chain
from crm.access import actor_may_change_enterprise, office_sees_everything
from crm.duplicates import DuplicateGroup, duplicate_groups
from crm.models import Contact, Enterprise, Interaction, Office, Presence
from crm.records import record_save
from recruitment.models import Project

# Fields the survivor takes from the duplicate when its own are blank.
FILLABLE = ("name_en", "credit_code", "province", "city", "registered_capital", "website", "source")
# Every relation that points at an enterprise and what the merge does with it; a
# test fails when a new relation appears that the merge does not handle.
HANDLED_RELATIONS = frozenset({"contacts", "interactions", "projects", "presences", "owned_chains", "merged_from"})


class MergeRefused(Exception):
    """The merge cannot be done; ``str()`` is the message for the user."""


@dataclass
class MergeResult:
    survivor: Enterprise
    duplicate: Enterprise
    moved: dict[str, int] = field(default_factory=dict)
    presences_dropped: int = 0
    filled: list[str] = field(default_factory=list)
    already_merged: bool = False

    @property
    def moved_total(self) -> int:
        return sum(self.moved.values())


def merge_allowed(user: Any) -> bool:
    """Managers, provincial staff and superusers may merge; the directory is shared by every office."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    office: Office | None = user.office
    return bool(user.is_manager or (office is not None and office.kind == Office.Kind.PROVINCIAL))


def merge_refusal(*, actor: Any, survivor: Enterprise, duplicate: Enterprise) -> str | None:
    """Why ``actor`` may not merge these two, or None: merging changes both, so it needs the
    right to change each (below the provincial office: both created by the actor's office)."""
    if actor is not None and not merge_allowed(actor):
        return _("Only managers can merge enterprises.")
    others = [e for e in (survivor, duplicate) if not actor_may_change_enterprise(actor, e)]
    if others:
        return _(
            "Merging changes both enterprises: only the office that created them, or the provincial office, "
            "may merge them (not yours: %(names)s)."
        ) % {"names": "、".join(f"“{e.name}”" for e in others)}
    return None


@dataclass
class GroupMerges:
    """What ``actor`` may do with a group of likely duplicates (:func:`duplicate_group_merges`)."""

    survivor: Enterprise | None  # the entry to keep among those actor may merge; None: nothing to merge
    refused: dict[Any, str]  # member pk → why actor may not merge it
    reason: str = ""  # why the group cannot be merged by actor, when it cannot

    @property
    def mergeable(self) -> bool:
        return self.survivor is not None


def duplicate_group_merges(*, group: DuplicateGroup, actor: Any) -> GroupMerges:
    """Which members of ``group`` ``actor`` may merge, into which survivor, and why not the others.

    The same rule as :func:`merge_refusal` (merging changes both enterprises), so the
    duplicates page offers only merges the merge page would carry out.
    """
    allowed = [m for m in group.members if actor_may_change_enterprise(actor, m)]
    refused = {m.pk: _member_refusal(m) for m in group.members if m not in allowed}
    if len(allowed) > 1:
        return GroupMerges(survivor=group.survivor_among(allowed), refused=refused)
    return GroupMerges(
        survivor=None,
        refused=refused,
        reason=_(
            "Not mergeable by you: merging changes both enterprises, and only the office that created an "
            "enterprise, or the provincial office, may change it. Ask them to merge these."
        ),
    )


def duplicate_groups_for(*, actor: Any) -> list[tuple[DuplicateGroup, GroupMerges]]:
    """The duplicate groups ``actor`` may act on, each with what actor may merge in it.

    Whoever may change every enterprise (the provincial office) sees every group. An
    office below it sees the groups holding an enterprise it created (the others are
    other offices' to merge), with the members it may not merge marked and why.
    """
    office = getattr(actor, "office", None)
    if office_sees_everything(office, is_superuser=bool(getattr(actor, "is_superuser", False))):
        groups = duplicate_groups(user=actor)
    elif office is None:
        return []
    else:
        groups = duplicate_groups(user=actor, office_id=office.pk)
    return [(group, duplicate_group_merges(group=group, actor=actor)) for group in groups]


def _member_refusal(enterprise: Enterprise) -> str:
    if enterprise.office_id is None:
        return _("A reference enterprise: only the provincial office may merge it.")
    return _("Created by %(office)s: only that office or the provincial office may merge it.") % {
        "office": enterprise.office
    }


def _reason(text: str) -> str:
    return text[:100]  # the history's change-reason column holds 100 characters


def _short(enterprise: Enterprise) -> str:
    return f"{enterprise.name[:40]} ({str(enterprise.pk)[:8]})"


def _locked(qs: models.QuerySet, *, deleting: bool = False) -> list[Any]:
    """The rows of ``qs`` locked in pk order: ``FOR NO KEY UPDATE`` unless some may be deleted."""
    return list(qs.select_for_update(no_key=not deleting, of=("self",)).order_by("pk"))


def _move(records: Iterable[Any], *, survivor: Enterprise, actor: Any, reason: str) -> int:
    count = 0
    for record in records:
        record.enterprise = survivor
        record._change_reason = reason
        record_save(record, actor=actor, created=False, validate=False)
        count += 1
    return count


@transaction.atomic
def enterprise_merge(*, survivor: Enterprise, duplicate: Enterprise, actor: Any = None) -> MergeResult:
    """Merge ``duplicate`` into ``survivor`` (see the module docstring). Raises :class:`MergeRefused`."""
    if survivor.pk == duplicate.pk:
        raise MergeRefused(merge_problem(survivor=survivor, duplicate=duplicate))
    refusal = merge_refusal(actor=actor, survivor=survivor, duplicate=duplicate)
    if refusal:
        raise MergeRefused(refusal)
    rows = {
        e.pk: e
        for e in _locked(
            Enterprise.objects.filter(models.Q(pk__in=[survivor.pk, duplicate.pk]) | models.Q(merged_into=duplicate.pk))
        )
    }
    if survivor.pk not in rows or duplicate.pk not in rows:
        raise MergeRefused(_("One of the enterprises no longer exists."))
    keep, drop = rows[survivor.pk], rows[duplicate.pk]
    problem = merge_refusal(actor=actor, survivor=keep, duplicate=drop) or merge_problem(survivor=keep, duplicate=drop)
    if problem:
        raise MergeRefused(problem)
    already = drop.merged_into_id == keep.pk

    result = MergeResult(survivor=keep, duplicate=drop, already_merged=already)
    moved_reason = _reason(_("Moved: %(dup)s merged into %(keep)s") % {"dup": _short(drop), "keep": _short(keep)})
    result.moved["contacts"] = _move(
        _locked(Contact.objects.filter(enterprise=drop)), survivor=keep, actor=actor, reason=moved_reason
    )
    result.moved["interactions"] = _move(
        _locked(Interaction.objects.filter(enterprise=drop)), survivor=keep, actor=actor, reason=moved_reason
    )
    result.moved["projects"] = _move(
        _locked(Project.objects.filter(enterprise=drop)), survivor=keep, actor=actor, reason=moved_reason
    )
    result.moved["presences"], result.presences_dropped = _move_presences(
        keep=keep, drop=drop, actor=actor, reason=moved_reason
    )
    Chain.objects.filter(owner_enterprise=drop).update(owner_enterprise=keep)
    for earlier in (e for e in rows.values() if e.merged_into_id == drop.pk):
        earlier.merged_into = keep
        earlier._change_reason = _reason(_("Merged into %(keep)s") % {"keep": _short(keep)})
        record_save(earlier, actor=actor, created=False, validate=False)
        result.moved["earlier_merges"] = result.moved.get("earlier_merges", 0) + 1
    if already:
        # A repeat: only stragglers that arrived after the first merge were moved.
        return result

    filled = merge_fills(survivor=keep, duplicate=drop)
    take_external = "external_id" in filled

    # The duplicate gives up its unique keys first, so the survivor can take them.
    drop.merged_into = keep
    if "credit_code" in filled:
        drop.credit_code = None
    if take_external:
        drop.external_id = ""
    drop._change_reason = _reason(_("Merged into %(keep)s") % {"keep": _short(keep)})
    record_save(drop, actor=actor, created=False, validate=False)

    for name, value in filled.items():
        setattr(keep, name, value)
    stages = set(keep.stages.all()) | set(drop.stages.all())
    keep._change_reason = _reason(_("Merged from %(dup)s") % {"dup": _short(drop)})
    record_save(keep, actor=actor, created=False, validate=False, m2m={"stages": sorted(stages, key=lambda s: s.pk)})
    result.filled = sorted(filled)
    return result


def merge_problem(*, survivor: Enterprise, duplicate: Enterprise) -> str | None:
    """Why merging ``duplicate`` into ``survivor`` is refused, or None. Pure: the service asks it
    again after locking the rows, the merge page before the user presses the button."""
    if survivor.pk == duplicate.pk:
        return _("An enterprise cannot be merged into itself.")
    if survivor.merged_into_id:
        return _("“%(name)s” has itself been merged into another enterprise; merge into that one instead.") % {
            "name": survivor.name
        }
    if duplicate.merged_into_id and duplicate.merged_into_id != survivor.pk:
        return _("“%(name)s” has already been merged into another enterprise.") % {"name": duplicate.name}
    if survivor.credit_code and duplicate.credit_code and survivor.credit_code != duplicate.credit_code:
        return _(
            "The two enterprises have different credit codes (%(a)s, %(b)s): they are different legal "
            "entities and are not merged."
        ) % {"a": survivor.credit_code, "b": duplicate.credit_code}
    return None


def merge_fills(*, survivor: Enterprise, duplicate: Enterprise) -> dict[str, Any]:
    """The duplicate's values the survivor takes: where the survivor's own are blank (ownership
    "other" counts as blank; an external id only within the same office, where it is unique)."""
    filled = {
        name: getattr(duplicate, name)
        for name in FILLABLE
        if _blank(getattr(survivor, name)) and not _blank(getattr(duplicate, name))
    }
    if survivor.ownership == Enterprise.Ownership.OTHER and duplicate.ownership != Enterprise.Ownership.OTHER:
        filled["ownership"] = duplicate.ownership
    if not survivor.external_id and duplicate.external_id and survivor.office_id == duplicate.office_id:
        filled["external_id"] = duplicate.external_id
    return filled


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _move_presences(*, keep: Enterprise, drop: Enterprise, actor: Any, reason: str) -> tuple[int, int]:
    """Move the duplicate's presences; where the survivor already has one at that park and stage, keep that one."""
    theirs = {(p.park_id, p.stage_id): p for p in _locked(Presence.objects.filter(enterprise=keep))}
    moved = dropped = 0
    for presence in _locked(Presence.objects.filter(enterprise=drop), deleting=True):
        presence._change_reason = reason
        if actor is not None:
            presence._history_user = actor
        existing = theirs.get((presence.park_id, presence.stage_id))
        if existing is None:
            presence.enterprise = keep
            presence.save()
            moved += 1
            continue
        changed = False
        for name in ("note", "source"):
            if not getattr(existing, name) and getattr(presence, name):
                setattr(existing, name, getattr(presence, name))
                changed = True
        if changed:
            existing._change_reason = reason
            if actor is not None:
                existing._history_user = actor
            existing.save()
        presence.delete()
        dropped += 1
    return moved, dropped
