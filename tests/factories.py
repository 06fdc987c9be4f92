"""factory_boy factories for every model the tests build."""

from __future__ import annotations

import factory
from django.utils import timezone
from stdnum.cn import uscc

from chains.models import Chain, Park, Sector, Stage, StageEdge, Zone
from crm.models import Contact, Enterprise, Interaction, Office, Presence, User
from recruitment.models import FollowUp, Project


def valid_credit_code(n: int) -> str:
    """A valid unified social credit code built from a number (check digit computed)."""
    body = f"91140100{n:09d}"[:17]
    return body + uscc.calc_check_digit(body)


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone
        django_get_or_create = ("code",)

    code = "taixin"
    name = "太忻一体化经济区"
    name_en = "Taiyuan–Xinzhou Integrated Economic Zone"


class ParkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Park

    code = factory.Sequence(lambda n: f"park-{n}")
    name = factory.Sequence(lambda n: f"园区{n}")
    name_en = factory.Sequence(lambda n: f"Park {n}")
    zone = factory.SubFactory(ZoneFactory)


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector

    code = factory.Sequence(lambda n: f"sector-{n}")
    name = factory.Sequence(lambda n: f"领域{n}")


class ChainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chain

    code = factory.Sequence(lambda n: f"chain-{n}")
    name = factory.Sequence(lambda n: f"产业链{n}")
    sector = factory.SubFactory(SectorFactory)
    zone = factory.SubFactory(ZoneFactory)


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stage

    chain = factory.SubFactory(ChainFactory)
    code = factory.Sequence(lambda n: f"stage-{n}")
    name = factory.Sequence(lambda n: f"环节{n}")
    order = factory.Sequence(lambda n: n)


class StageEdgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StageEdge


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"office-{n}")
    name = factory.Sequence(lambda n: f"办公室{n}")
    kind = Office.Kind.PARK


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    office = factory.SubFactory(OfficeFactory)
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-123")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class EnterpriseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enterprise

    name = factory.Sequence(lambda n: f"示例企业{n}有限公司")
    credit_code = factory.Sequence(valid_credit_code)
    office = factory.SubFactory(OfficeFactory)


class PresenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Presence

    enterprise = factory.SubFactory(EnterpriseFactory)
    park = factory.SubFactory(ParkFactory)
    stage = factory.SubFactory(StageFactory)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    office = factory.SubFactory(OfficeFactory)
    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"联系人{n}")


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    office = factory.SubFactory(OfficeFactory)
    enterprise = factory.SubFactory(EnterpriseFactory)
    kind = Interaction.Kind.CALL
    occurred_at = factory.LazyFunction(timezone.now)
    summary = "电话沟通"


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    office = factory.SubFactory(OfficeFactory)
    title = factory.Sequence(lambda n: f"项目{n}")
    enterprise = factory.SubFactory(EnterpriseFactory)
    park = factory.SubFactory(ParkFactory)


class FollowUpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowUp

    office = factory.SubFactory(OfficeFactory)
    project = factory.SubFactory(ProjectFactory, office=factory.SelfAttribute("..office"))
    due_at = factory.LazyFunction(timezone.now)
    note = "跟进"
