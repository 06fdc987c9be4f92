"""Robots and channel choices are written through one service; the admin shows its refusals."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from crm import outbound
from crm.sealing import unseal
from recruitment import channel_settings
from recruitment.models import ChannelPreference, OfficeChannel
from tests.factories import OfficeFactory, UserFactory
from tests.recruitment.robot_servers import DINGTALK_SECRET

pytestmark = pytest.mark.django_db

ROBOTS_ADD = reverse("admin:recruitment_officechannel_add")
PREFERENCES_ADD = reverse("admin:recruitment_channelpreference_add")
WECOM = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"
DINGTALK = "https://oapi.dingtalk.com/robot/send?access_token=abc123"


@pytest.fixture
def manager(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True, is_manager=True, email="sun@yangqu.example")


@pytest.fixture
def public_dns(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("93.184.216.34")])


def _post_robot(client, office, **data):  # type: ignore[no-untyped-def]
    form = {"office": office.pk, "channel": "wecom", "url": WECOM, "enabled": "on", "secret": "", **data}
    return client.post(ROBOTS_ADD, form)


def _field_error_codes(response, field: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.code for e in response.context["adminform"].form.errors.as_data().get(field, [])]


def test_a_robot_url_to_a_private_address_is_refused_in_the_admin(client, manager, park_office, monkeypatch):
    monkeypatch.setattr(outbound, "resolve", lambda host, port: [ipaddress.ip_address("10.1.2.3")])
    client.force_login(manager)
    response = _post_robot(client, park_office)
    assert response.status_code == 200
    assert "private_address" in _field_error_codes(response, "url")
    assert not OfficeChannel.objects.exists()


def test_plain_http_to_a_public_robot_is_refused_in_the_admin(client, manager, park_office, public_dns):
    client.force_login(manager)
    response = _post_robot(client, park_office, url=WECOM.replace("https://", "http://"))
    assert "https_required" in _field_error_codes(response, "url")
    assert not OfficeChannel.objects.exists()


def test_a_robot_url_without_its_key_is_refused_in_the_admin(client, manager, park_office, public_dns):
    client.force_login(manager)
    response = _post_robot(client, park_office, url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    assert "robot_url" in _field_error_codes(response, "url")
    response = _post_robot(client, park_office, channel="dingtalk", url=WECOM)  # a WeCom URL as DingTalk
    assert "robot_url" in _field_error_codes(response, "url")
    assert not OfficeChannel.objects.exists()


def test_a_secret_is_refused_on_a_wecom_robot_and_must_look_like_dingtalks(client, manager, park_office, public_dns):
    client.force_login(manager)
    response = _post_robot(client, park_office, secret=DINGTALK_SECRET)
    assert "not_applicable" in _field_error_codes(response, "secret")
    response = _post_robot(client, park_office, channel="dingtalk", url=DINGTALK, secret="not a secret")
    assert "invalid" in _field_error_codes(response, "secret")
    assert not OfficeChannel.objects.exists()


def test_a_dingtalk_secret_is_sealed_and_kept_when_left_empty(client, manager, park_office, public_dns):
    client.force_login(manager)
    response = _post_robot(client, park_office, channel="dingtalk", url=DINGTALK, secret=DINGTALK_SECRET)
    assert response.status_code == 302
    robot = OfficeChannel.objects.get()
    assert DINGTALK_SECRET not in robot.secret_sealed and unseal(robot.secret_sealed) == DINGTALK_SECRET
    change = reverse("admin:recruitment_officechannel_change", args=[robot.pk])
    form = {"office": park_office.pk, "channel": "dingtalk", "url": DINGTALK + "x", "secret": ""}
    assert client.post(change, form).status_code == 302
    robot.refresh_from_db()
    assert robot.url.endswith("x") and not robot.enabled
    assert unseal(robot.secret_sealed) == DINGTALK_SECRET


def test_staff_who_are_not_managers_cannot_set_up_robots(client, park_office, public_dns):
    staff = UserFactory(office=park_office, is_staff=True)
    client.force_login(staff)
    assert _post_robot(client, park_office).status_code == 403
    assert not OfficeChannel.objects.exists()
    with pytest.raises(PermissionDenied):
        channel_settings.office_channel_save(actor=staff, office=park_office, channel="wecom", url=WECOM)


def test_a_manager_cannot_set_up_another_offices_robot(client, manager, park_office, public_dns):
    other = OfficeFactory(kind="park")
    client.force_login(manager)
    response = _post_robot(client, other)
    assert _field_error_codes(response, "office")  # not a choice offered
    assert not OfficeChannel.objects.exists()
    with pytest.raises(PermissionDenied):
        channel_settings.office_channel_save(actor=manager, office=other, channel="wecom", url=WECOM)
    theirs = OfficeChannel.objects.create(office=other, channel="wecom", url=WECOM)
    with pytest.raises(PermissionDenied):  # nor move it to their own office
        channel_settings.office_channel_save(
            actor=manager, office=park_office, channel="wecom", url=WECOM, robot=theirs
        )


def test_a_second_robot_on_the_same_channel_is_refused(client, manager, park_office, public_dns):
    client.force_login(manager)
    assert _post_robot(client, park_office).status_code == 302
    response = _post_robot(client, park_office)
    assert response.status_code == 200
    assert OfficeChannel.objects.count() == 1


def test_a_person_sets_only_their_own_channel_choices(client, manager, park_office):
    colleague = UserFactory(office=park_office, is_staff=True)
    client.force_login(manager)
    assert client.post(PREFERENCES_ADD, {"channel": "wecom"}).status_code == 302  # "receive" unticked: off
    mine = ChannelPreference.objects.get()
    assert (mine.user, mine.channel, mine.enabled) == (manager, "wecom", False)
    with pytest.raises(PermissionDenied):
        channel_settings.channel_preference_set(actor=manager, user=colleague, channel="wecom", enabled=False)
    theirs = channel_settings.channel_preference_set(actor=colleague, user=colleague, channel="email", enabled=False)
    change = reverse("admin:recruitment_channelpreference_change", args=[theirs.pk])
    assert client.post(change, {"channel": "email", "enabled": "on"}).status_code == 404
    theirs.refresh_from_db()
    assert not theirs.enabled


def test_a_choice_cannot_be_moved_onto_a_channel_already_chosen(client, manager):
    client.force_login(manager)
    channel_settings.channel_preference_set(actor=manager, user=manager, channel="wecom", enabled=False)
    email = channel_settings.channel_preference_set(actor=manager, user=manager, channel="email", enabled=False)
    change = reverse("admin:recruitment_channelpreference_change", args=[email.pk])
    response = client.post(change, {"channel": "wecom", "enabled": "on"})
    assert response.status_code == 200
    assert "unique" in _field_error_codes(response, "channel")
    assert sorted(ChannelPreference.objects.values_list("channel", flat=True)) == ["email", "wecom"]
