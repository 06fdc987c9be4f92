"""Reference data in the admin: read by everyone, changed only by staff who see everything."""

from __future__ import annotations

import pytest

from chains.models import Chain, Park
from crm.models import Presence
from crm.roles import REFERENCE_EDITOR, roles_ensure
from tests.crm.test_admin_support import admin_url, sign_in, sign_in_manager
from tests.factories import ChainFactory, EnterpriseFactory, ParkFactory, StageFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def chain(db):  # type: ignore[no-untyped-def]
    chain = ChainFactory(code="carbon-fibre", name="高端碳纤维产业链")
    StageFactory(chain=chain, code="acrylonitrile", name="丙烯腈", order=1)
    StageFactory(chain=chain, code="precursor", name="聚丙烯腈原丝", order=2)
    return chain


def chain_post(chain: Chain, **fields: str) -> dict:
    data = {
        "code": chain.code,
        "name": chain.name,
        "name_en": chain.name_en,
        "sector": str(chain.sector_id),
        "zone": str(chain.zone_id),
        "target_output_value": "",
        "chain_chief": "",
        "lead_unit": "",
        "owner_enterprise": "",
        "source": "",
        "stages-TOTAL_FORMS": "0",
        "stages-INITIAL_FORMS": "0",
        "chain_parks-TOTAL_FORMS": "0",
        "chain_parks-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return data


def test_park_user_reads_reference_data_but_cannot_change_it(client, park_user, chain):
    sign_in_manager(client, park_user)
    response = client.get(admin_url(Chain, "change", chain.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert "丙烯腈" in response.content.decode()
    assert client.post(admin_url(Chain, "change", chain.pk), chain_post(chain, name="改名")).status_code == 403
    assert client.get(admin_url(Park, "add")).status_code == 403
    chain.refresh_from_db()
    assert chain.name == "高端碳纤维产业链"


def test_park_user_cannot_change_reference_data_even_when_given_the_permission(client, park_user, chain):
    park_user.groups.add(roles_ensure()[REFERENCE_EDITOR])
    sign_in(client, park_user)
    assert client.post(admin_url(Chain, "change", chain.pk), chain_post(chain, name="改名")).status_code == 403


def test_park_manager_cannot_change_presences(client, park_user):
    presence = Presence.objects.create(enterprise=EnterpriseFactory(), park=ParkFactory(), stage=StageFactory())
    sign_in_manager(client, park_user)
    assert client.get(admin_url(Presence, "change", presence.pk)).context["has_change_permission"] is False
    assert client.post(admin_url(Presence, "delete", presence.pk), {"post": "yes"}).status_code == 403


def test_provincial_manager_changes_reference_data(client, provincial_user, chain):
    sign_in_manager(client, provincial_user)
    response = client.post(admin_url(Chain, "change", chain.pk), chain_post(chain, chain_chief="省领导"))
    assert response.status_code == 302
    chain.refresh_from_db()
    assert chain.chain_chief == "省领导"


def test_provincial_manager_records_a_presence_through_the_service(client, provincial_user):
    enterprise, park, stage = EnterpriseFactory(), ParkFactory(), StageFactory()
    sign_in_manager(client, provincial_user)
    response = client.post(
        admin_url(Presence, "add"),
        {
            "enterprise": str(enterprise.pk),
            "park": str(park.pk),
            "stage": str(stage.pk),
            "status": "construction",
            "note": "在建",
            "source": "",
        },
    )
    assert response.status_code == 302
    presence = Presence.objects.get()
    assert (presence.enterprise, presence.park, presence.stage, presence.status) == (
        enterprise,
        park,
        stage,
        "construction",
    )


def test_stage_list_shows_what_each_stage_feeds(client, park_user, chain):
    from tests.factories import StageEdgeFactory

    upstream, downstream = chain.stages.order_by("order")
    StageEdgeFactory(upstream=upstream, downstream=downstream)
    sign_in(client, park_user)
    response = client.get(admin_url(upstream, "changelist"), {"chain__id__exact": chain.pk})
    assert "聚丙烯腈原丝" in response.content.decode()
