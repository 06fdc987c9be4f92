"""Load the reference data (``seeds/reference/*.yaml``): zone, parks, sectors, chains and
their stage graph, the target map, reference enterprises and their presences.

Keyed by code (enterprises by their ``key``, stored as ``external_id`` with no
office), written through :mod:`seeds.upserts` and the crm services, so a second run
changes nothing. Seeds add to the reference graph and never delete from it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from chains.models import Chain, ChainPark, Park, Sector, Stage, StageEdge, Zone
from crm.models import Enterprise, Presence
from crm.services import enterprise_create, enterprise_update, presence_set
from seeds.upserts import CREATED, UNCHANGED, UPDATED, SeedTally, add_missing, differing, load_yaml, upsert

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE_FILE = REFERENCE_DIR / "taixin.yaml"


class SourceText:
    """Renders a fact's ``source`` block into the text stored on the record."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = {k: " ".join(v.split()) for k, v in sources.items()}

    def __call__(self, block: dict[str, str] | str | None, *, where: str) -> str:
        if not block:
            raise CommandError(_("%(where)s has no source: every reference fact needs one.") % {"where": where})
        if isinstance(block, str):
            return " ".join(block.split())
        origin = block.get("from")
        if origin not in self.sources:
            raise CommandError(_("%(where)s cites an unknown source “%(s)s”.") % {"where": where, "s": origin})
        text = self.sources[origin]
        if block.get("quote"):
            text += f": “{' '.join(block['quote'].split())}”"
        if block.get("note"):
            text += f" Note: {' '.join(block['note'].split())}"
        return text


def pick(table: dict[str, Any], code: str, *, what: str) -> Any:
    """``table[code]``, or a CommandError saying which code is unknown."""
    try:
        return table[code]
    except KeyError:
        raise CommandError(_("Unknown %(what)s code “%(code)s”.") % {"what": what, "code": code}) from None


def _stage_codes_unique(chains: list[dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    for chain in chains:
        for stage in chain.get("stages", []):
            code = stage["code"]
            if code in seen:
                raise CommandError(
                    _("Stage code “%(code)s” is used by chains %(a)s and %(b)s; stage codes must be unique.")
                    % {"code": code, "a": seen[code], "b": chain["code"]}
                )
            seen[code] = chain["code"]


def _reference_enterprise(spec: dict[str, Any], *, stages: list[Stage], source: str, tally: SeedTally) -> Enterprise:
    """A reference enterprise: no office, keyed by ``external_id``; created and changed
    through the crm services, so history and change feed see it like any other."""
    values = {
        "name": spec["name"],
        "name_en": spec.get("name_en", ""),
        "ownership": spec.get("ownership", Enterprise.Ownership.OTHER),
        "province": spec.get("province", ""),
        "city": spec.get("city", ""),
        "website": spec.get("website", ""),
        "source": source,
    }
    existing = Enterprise.objects.filter(office__isnull=True, external_id=spec["key"]).first()
    if existing is None:
        tally.add("enterprise", CREATED)
        return enterprise_create(office=None, stages=stages, external_id=spec["key"], **values)
    changed = differing(existing, values)
    stages_differ = set(existing.stages.values_list("pk", flat=True)) != {s.pk for s in stages}
    if not changed and not stages_differ:
        tally.add("enterprise", UNCHANGED)
        return existing
    tally.add("enterprise", UPDATED)
    return enterprise_update(
        enterprise=existing,
        stages=stages if stages_differ else None,
        **{name: values[name] for name in changed},
    )


def presence_ensure(
    *, enterprise: Enterprise, park: Park, stage: Stage, note: str, source: str, tally: SeedTally, status: str = ""
) -> None:
    """``presence_set`` only when the presence is missing or differs (it writes history)."""
    status = status or Presence.Status.OPERATING
    current = Presence.objects.filter(enterprise=enterprise, park=park, stage=stage).first()
    if current is not None and (current.status, current.note, current.source) == (status, note, source):
        tally.add("presence", UNCHANGED)
        return
    presence_set(enterprise=enterprise, park=park, stage=stage, status=status, note=note, source=source)
    tally.add("presence", CREATED if current is None else UPDATED)


@transaction.atomic
def load_reference(*, path: Path = REFERENCE_FILE, tally: SeedTally | None = None) -> SeedTally:
    """Load the reference file in one transaction: all of it or nothing."""
    tally = tally or SeedTally()
    data = load_yaml(path)
    try:
        _load(data, tally)
    except KeyError as exc:
        raise CommandError(
            _("%(file)s: a required key is missing: %(key)s") % {"file": path.name, "key": exc}
        ) from None
    except ValidationError as exc:
        raise CommandError(_("%(file)s: invalid data: %(errors)s") % {"file": path.name, "errors": exc}) from None
    return tally


def _load(data: dict[str, Any], tally: SeedTally) -> None:
    source = SourceText(data.get("sources", {}))
    _stage_codes_unique(data.get("chains", []))

    z = data["zone"]
    zone = upsert(
        Zone,
        key={"code": z["code"]},
        values={
            "name": z["name"],
            "name_en": z.get("name_en", ""),
            "target_output_value": Decimal(z["target_output_value"]) if z.get("target_output_value") else None,
            "source": source(z.get("source"), where=f"zone {z['code']}"),
        },
        tally=tally,
    )

    parks: dict[str, Park] = {}
    for p in data.get("parks", []):
        parks[p["code"]] = upsert(
            Park,
            key={"code": p["code"]},
            values={
                "name": p["name"],
                "name_en": p.get("name_en", ""),
                "zone_id": zone.pk,
                "city": p.get("city", ""),
                "source": source(p.get("source"), where=f"park {p['code']}"),
            },
            tally=tally,
        )

    sectors: dict[str, Sector] = {}
    for s in data.get("sectors", []):
        sectors[s["code"]] = upsert(
            Sector,
            key={"code": s["code"]},
            values={
                "name": s["name"],
                "name_en": s.get("name_en", ""),
                "source": source(s.get("source"), where=f"sector {s['code']}"),
            },
            tally=tally,
        )

    # Stages exist before enterprises can list them as capabilities.
    chains: dict[str, Chain] = {}
    stages: dict[str, Stage] = {}
    for c in data.get("chains", []):
        chain = upsert(
            Chain,
            key={"code": c["code"]},
            values={
                "name": c["name"],
                "name_en": c.get("name_en", ""),
                "sector_id": pick(sectors, c["sector"], what="sector").pk,
                "zone_id": zone.pk,
                "chain_chief": c.get("chain_chief", ""),
                "lead_unit": c.get("lead_unit", ""),
                "source": source(c.get("source"), where=f"chain {c['code']}"),
            },
            tally=tally,
        )
        chains[c["code"]] = chain
        for order, st in enumerate(c["stages"], start=1):
            stages[st["code"]] = upsert(
                Stage,
                key={"chain_id": chain.pk, "code": st["code"]},
                values={"name": st["name"], "name_en": st.get("name_en", ""), "order": order},
                tally=tally,
            )
        for upstream, downstream in c.get("edges", []):
            upsert(
                StageEdge,
                key={
                    "upstream_id": pick(stages, upstream, what="stage").pk,
                    "downstream_id": pick(stages, downstream, what="stage").pk,
                },
                values={},
                tally=tally,
            )
        for link in c.get("parks", []):
            upsert(
                ChainPark,
                key={"chain_id": chain.pk, "park_id": pick(parks, link["park"], what="park").pk},
                values={"source": source(link.get("source"), where=f"chain {c['code']} in park {link['park']}")},
                tally=tally,
            )
        target_parks = [pick(parks, code, what="park") for code in c.get("targets", [])]
        for st in c["stages"]:
            add_missing(stages[st["code"]].target_parks, target_parks, kind="target map", tally=tally)

    enterprises: dict[str, Enterprise] = {}
    for e in data.get("enterprises", []):
        enterprises[e["key"]] = _reference_enterprise(
            e,
            stages=[pick(stages, code, what="stage") for code in e.get("stages", [])],
            source=source(e.get("source"), where=f"enterprise {e['key']}"),
            tally=tally,
        )

    for c in data.get("chains", []):
        owner = pick(enterprises, c["owner"], what="enterprise").pk if c.get("owner") else None
        upsert(Chain, key={"code": c["code"]}, values={"owner_enterprise_id": owner}, tally=SeedTally())

    for pr in data.get("presences", []):
        text = source(pr.get("source"), where=f"presence of {pr['enterprise']} in {pr['park']}")
        for stage_code in pr["stages"]:
            presence_ensure(
                enterprise=pick(enterprises, pr["enterprise"], what="enterprise"),
                park=pick(parks, pr["park"], what="park"),
                stage=pick(stages, stage_code, what="stage"),
                note=pr.get("note", ""),
                source=text,
                status=pr.get("status", ""),
                tally=tally,
            )
