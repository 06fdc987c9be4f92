"""Every list endpoint answers a page of 1 record and a page of 100 with the same number of queries."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chains.models import ChainPark, StageEdge
from crm.changes import changes_record
from tests.api.conftest import api_for, wait_for_feed_horizon
from tests.factories import (
    ChainFactory,
    ContactFactory,
    EnterpriseFactory,
    FollowUpFactory,
    InteractionFactory,
    ParkFactory,
    PresenceFactory,
    ProjectFactory,
    SectorFactory,
    StageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)  # the change feed shows committed rows only


def _world(n: int, office):  # type: ignore[no-untyped-def]
    """``n`` of every kind of record, each with its related rows (stages, contacts, edges)."""
    park = ParkFactory()
    user = UserFactory(office=office)
    stages = []
    for _ in range(n):
        chain = ChainFactory(sector=SectorFactory())
        ChainPark.objects.create(chain=chain, park=park)
        first, second = StageFactory(chain=chain, order=1), StageFactory(chain=chain, order=2)
        StageEdge.objects.create(upstream=first, downstream=second)
        stages.append(first)
    written: dict[type, list] = {}
    for i in range(n):
        ParkFactory(zone=park.zone)
        enterprise = EnterpriseFactory(office=office)
        enterprise.stages.set([stages[i]])
        PresenceFactory(enterprise=enterprise, park=park, stage=stages[i])
        contact = ContactFactory(office=office, enterprise=enterprise)
        project = ProjectFactory(office=office, enterprise=enterprise, park=park)
        project.stages.set([stages[i]])
        interaction = InteractionFactory(office=office, enterprise=enterprise, project=project)
        interaction.contacts.set([contact])
        follow_up = FollowUpFactory(office=office, project=project, assignee=user)
        for obj in (enterprise, contact, project, interaction, follow_up):
            written.setdefault(type(obj), []).append(obj)
    for objects in written.values():
        changes_record(objects=objects)
    candidate = EnterpriseFactory(office=office)
    candidate.stages.set([stages[0]])
    for _ in range(n - 1):
        EnterpriseFactory(office=office).stages.set([stages[0]])
    return park, stages[0]


LISTS: dict[str, Callable] = {
    "enterprises/": lambda park, stage: {},
    "contacts/": lambda park, stage: {},
    "interactions/": lambda park, stage: {},
    "projects/": lambda park, stage: {},
    "follow-ups/": lambda park, stage: {},
    "parks/": lambda park, stage: {},
    "sectors/": lambda park, stage: {},
    "chains/": lambda park, stage: {},
    "gaps/": lambda park, stage: {"park": park.code},
    "gaps/candidates/": lambda park, stage: {"park": ParkFactory(zone=park.zone).code, "stage": stage.code},
    "changes/": lambda park, stage: {"limit": 1000},
}


def _count(api, path: str, params: dict) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    api.get(path, **params)  # warm up (the key's last-used time is written once a minute)
    with CaptureQueriesContext(connection) as queries:
        r = api.get(path, **{"limit": 500, **params} if path != "changes/" else params)
    assert r.status_code == 200, r.content
    return len(queries), len(r.json()["results"])


def test_every_list_query_count_is_the_same_for_1_and_100_records(office_a):
    api = api_for(office_a)
    park, stage = _world(1, office_a)
    one = {path: _count(api, path, params(park, stage)) for path, params in LISTS.items()}
    park, stage = _world(100, office_a)
    wait_for_feed_horizon()
    hundred = {path: _count(api, path, params(park, stage)) for path, params in LISTS.items()}
    for path in LISTS:
        assert hundred[path][1] >= 100 and hundred[path][1] > one[path][1], (path, one[path], hundred[path])
        assert hundred[path][0] == one[path][0], (path, one[path], hundred[path])
