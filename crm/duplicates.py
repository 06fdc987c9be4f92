"""Likely duplicate enterprises in the shared directory, for a manager to review and merge.

Two offices often enter the same enterprise: once as "太原钢铁（集团）有限公司" with
its credit code, once as "太钢集团" or with a typo. The credit code cannot repeat
(it is unique), so duplicates are found by what the entries still share:

* the same normalised name (``crm.names.normalize_name``: width, case, punctuation
  and the legal form — 有限公司, Co., Ltd. — ignored);
* the same pinyin (a homophone typo: 太原 / 泰原);
* the same website host (``www.`` ignored; shared platforms such as WeChat pages
  or shop sites are not evidence).

Entries linked through any of these form one group. Merged entries are left out.
Two members with different credit codes are two legal entities: the group is
shown with a warning and ``recruitment.merge`` refuses to merge them.

:func:`duplicate_groups` runs a fixed number of queries (four), whatever the
size of the directory or the number of groups.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from crm.access import scope_for_user
from crm.credit_code import normalize_credit_code
from crm.models import Enterprise
from crm.names import name_pinyin, normalize_name

# Hosts shared by many enterprises: a page there says nothing about identity.
SHARED_HOSTS = frozenset(
    {
        "mp.weixin.qq.com",
        "weixin.qq.com",
        "weibo.com",
        "1688.com",
        "shop.1688.com",
        "taobao.com",
        "tmall.com",
        "jd.com",
        "baike.baidu.com",
        "qcc.com",
        "tianyancha.com",
        "aiqicha.baidu.com",
        "linkedin.com",
        "facebook.com",
        "sina.com.cn",
        "163.com",
        "qq.com",
    }
)

REASON_LABELS = {
    "name": _("same normalised name"),
    "pinyin": _("same pinyin"),
    "domain": _("same website"),
}


def website_host(url: str) -> str:
    """The host a website lives on, lower case, without ``www.``; '' when there is none or it is shared."""
    if not url:
        return ""
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname or ""
    except ValueError:
        return ""
    host = host.lower().removeprefix("www.")
    if host in SHARED_HOSTS or any(host.endswith("." + shared) for shared in SHARED_HOSTS):
        return ""
    return host


@dataclass
class DuplicateGroup:
    """Enterprises that look like one: the members, why, and which to keep."""

    members: list[Enterprise]
    reasons: list[tuple[str, str]] = field(default_factory=list)  # (kind, shared value)

    @property
    def key(self) -> str:
        return str(min(str(m.pk) for m in self.members))

    @property
    def codes_conflict(self) -> bool:
        """Two members carry different credit codes: different legal entities, not to be merged."""
        return len({m.credit_code for m in self.members if m.credit_code}) > 1

    @property
    def suggested_survivor(self) -> Enterprise:
        """The entry to keep: one with a credit code, then the one with the most records, then the oldest."""
        return self.survivor_among(self.members)

    @staticmethod
    def survivor_among(members: list[Enterprise]) -> Enterprise:
        """:attr:`suggested_survivor`'s choice among ``members`` (those a user may merge)."""
        return min(members, key=lambda m: (m.credit_code is None, -_weight(m), m.created_at, str(m.pk)))

    def reason_labels(self) -> list[str]:
        return [f"{REASON_LABELS[kind]}: {value}" for kind, value in self.reasons]


def _weight(enterprise: Enterprise) -> int:
    return sum(
        getattr(enterprise, name, 0) or 0 for name in ("n_contacts", "n_interactions", "n_projects", "n_presences")
    )


def _count(relation: str, user: Any) -> Coalesce:
    """A count of the enterprise's related records that ``user`` may see, as a subquery (no join fan-out)."""
    model = Enterprise._meta.get_field(relation).related_model
    inner: QuerySet = model._default_manager.filter(enterprise=OuterRef("pk"))
    if user is not None:
        inner = scope_for_user(inner, user=user)
    counted = inner.order_by().values("enterprise").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _repeated(qs: QuerySet, field_name: str, limit: int, office_id: Any = None) -> list[str]:
    repeated = qs.exclude(**{field_name: ""}).values(field_name).annotate(n=Count("pk")).filter(n__gt=1)
    if office_id is not None:
        repeated = repeated.annotate(own=Count("pk", filter=Q(office_id=office_id))).filter(own__gt=0)
    return list(repeated.order_by(field_name).values_list(field_name, flat=True)[:limit])


def duplicate_groups(*, user: Any = None, limit: int = 200, office_id: Any = None) -> list[DuplicateGroup]:
    """Groups of likely duplicates (at most ``limit``), largest first; four queries in all.

    Counts of contacts, interactions and projects on each member are those ``user``
    may see (their office's, or everything for the province). With ``office_id``,
    only the groups with a member that office created (the ones it may act on).
    """
    live = Enterprise.objects.filter(merged_into__isnull=True)
    names = _repeated(live, "name_normalized", limit, office_id)  # query 1
    pinyins = _repeated(live, "name_pinyin", limit, office_id)  # query 2
    by_host: dict[str, list[Any]] = defaultdict(list)
    own_hosts: set[str] = set()
    for pk, website, owner in live.exclude(website="").values_list("pk", "website", "office_id"):  # query 3
        host = website_host(website)
        if host:
            by_host[host].append(pk)
            if owner == office_id:
                own_hosts.add(host)
    hosts = {
        host: pks for host, pks in sorted(by_host.items()) if len(pks) > 1 and (office_id is None or host in own_hosts)
    }
    host_pks = [pk for pks in list(hosts.values())[:limit] for pk in pks]
    if not (names or pinyins or host_pks):
        return []
    members = list(  # query 4
        live.filter(Q(name_normalized__in=names) | Q(name_pinyin__in=pinyins) | Q(pk__in=host_pks))
        .select_related("office")
        .annotate(
            n_contacts=_count("contacts", user),
            n_interactions=_count("interactions", user),
            n_projects=_count("projects", user),
            n_presences=_count("presences", None),
        )
        .order_by("created_at", "pk")
    )
    return _group(members, set(names), set(pinyins), hosts)[:limit]


def _group(
    members: list[Enterprise], names: set[str], pinyins: set[str], hosts: dict[str, list[Any]]
) -> list[DuplicateGroup]:
    """Union the members that share a key; each group remembers which keys joined it."""
    parent: dict[Any, Any] = {m.pk: m.pk for m in members}

    def find(pk: Any) -> Any:
        while parent[pk] != pk:
            parent[pk] = parent[parent[pk]]
            pk = parent[pk]
        return pk

    keys: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for m in members:
        if m.name_normalized in names:
            keys[("name", m.name_normalized)].append(m.pk)
        if m.name_pinyin in pinyins:
            keys[("pinyin", m.name_pinyin)].append(m.pk)
        host = website_host(m.website)
        if host in hosts:
            keys[("domain", host)].append(m.pk)
    for pks in keys.values():
        for pk in pks[1:]:
            parent[find(pk)] = find(pks[0])
    groups: dict[Any, DuplicateGroup] = {}
    for m in members:
        groups.setdefault(find(m.pk), DuplicateGroup(members=[])).members.append(m)
    named = [set(pks) for (kind, _value), pks in keys.items() if kind == "name" and len(pks) > 1]
    for key, pks in keys.items():
        if len(pks) < 2:
            continue
        # The same name gives the same pinyin: say the stronger reason only.
        if key[0] == "pinyin" and any(set(pks) <= same_name for same_name in named):
            continue
        groups[find(pks[0])].reasons.append(key)
    result = [g for g in groups.values() if len(g.members) > 1]
    result.sort(key=lambda g: (-len(g.members), g.members[0].name))
    return result


def enterprise_duplicates_of(
    *, name: str, credit_code: str | None = None, exclude_pk: Any = None, limit: int = 10
) -> list[Enterprise]:
    """Live enterprises a new entry named ``name`` would likely duplicate: the same credit
    code, the same normalised name or the same pinyin. One query, each condition an index
    (the unique credit code, ``name_normalized``, ``name_pinyin``), whatever the size of
    the directory."""
    name = (name or "").strip()
    conditions = Q()
    if name:
        normalized = normalize_name(name)
        if normalized:
            conditions |= Q(name_normalized=normalized)
        pinyin = name_pinyin(name)
        if pinyin:
            conditions |= Q(name_pinyin=pinyin)
    code = normalize_credit_code(credit_code)
    if code:
        conditions |= Q(credit_code=code)
    if not conditions:
        return []
    found = Enterprise.objects.filter(conditions, merged_into__isnull=True)
    if exclude_pk is not None:
        found = found.exclude(pk=exclude_pk)
    return list(found.order_by("name", "pk")[:limit])
