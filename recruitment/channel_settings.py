"""Writes on where notices go: an office's chat robots and a person's channel choices.

One rule on every path (admin, shell, any later API): who may edit, the robot URL
checked like a webhook's (``crm.outbound``: https, public addresses only unless
allow-listed, no user name in the URL) plus the query parameter each robot API
needs, and the DingTalk signing secret sealed at rest, never shown again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from crm.models import Office
from crm.outbound import AddressRefused, url_check
from crm.sealing import seal
from recruitment.models import ChannelPreference, OfficeChannel, ReminderDelivery

Channel = ReminderDelivery.Channel
ROBOT_CHANNELS = (Channel.WECOM, Channel.DINGTALK)
# The parameter that names the robot in its webhook URL.
ROBOT_URL_PARAMETER = {Channel.WECOM: "key", Channel.DINGTALK: "access_token"}
URL_MAX = 1000
SECRET_MAX = 200


def _refuse(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def robot_may_edit(*, actor: Any, office: Office | None) -> bool:
    """An office's robots are set up by its managers (and superusers)."""
    if actor is None or not actor.is_active or not actor.is_staff:
        return False
    if actor.is_superuser:
        return True
    return bool(getattr(actor, "is_manager", False)) and office is not None and actor.office_id == office.pk


def office_channel_check(
    *, actor: Any, office: Office | None, channel: str, url: Any, secret: str = "", robot: OfficeChannel | None = None
) -> str:
    """Every refusal a robot's write can meet, as ValidationErrors on their fields; the cleaned URL."""
    if office is None:
        raise _refuse("office", _("Choose an office."), "required")
    stored = OfficeChannel.objects.select_related("office").filter(pk=robot.pk).first() if robot and robot.pk else None
    if not robot_may_edit(actor=actor, office=office) or (
        stored is not None and not robot_may_edit(actor=actor, office=stored.office)
    ):
        raise PermissionDenied(_("Only the office's managers set up its chat robots."))
    if channel not in ROBOT_CHANNELS:
        raise _refuse("channel", _("Choose WeCom or DingTalk."), "invalid_choice")
    if not isinstance(url, str) or not url.strip() or len(url) > URL_MAX:
        raise _refuse("url", _("Enter an https:// URL."), "invalid")
    url = url.strip()
    try:
        url_check(url)
    except AddressRefused as exc:
        raise _refuse("url", str(exc), exc.code) from None
    parameter = ROBOT_URL_PARAMETER[Channel(channel)]
    if not parse_qs(urlsplit(url).query).get(parameter):
        raise _refuse(
            "url",
            _(
                "The robot's webhook URL carries its %(p)s=… parameter; copy the whole URL from the group's robot settings."
            )
            % {"p": parameter},
            "robot_url",
        )
    if secret:
        if channel != Channel.DINGTALK:
            raise _refuse("secret", _("Only DingTalk robots sign their messages with a secret."), "not_applicable")
        if not secret.startswith("SEC") or len(secret) > SECRET_MAX or any(c.isspace() for c in secret):
            raise _refuse("secret", _("A DingTalk signing secret starts with SEC and has no spaces."), "invalid")
    clash = OfficeChannel.objects.filter(office=office, channel=channel)
    if robot is not None and robot.pk:
        clash = clash.exclude(pk=robot.pk)
    if clash.exists():
        raise _refuse("channel", _("This office already has a robot on this channel."), "unique")
    return url


@transaction.atomic
def office_channel_save(
    *,
    actor: Any,
    office: Office | None,
    channel: str,
    url: Any,
    secret: str = "",
    enabled: bool = True,
    robot: OfficeChannel | None = None,
) -> OfficeChannel:
    """Create (``robot`` None) or change an office's robot. An empty secret keeps the current one;
    a WeCom robot keeps none."""
    url = office_channel_check(actor=actor, office=office, channel=channel, url=url, secret=secret, robot=robot)
    robot = robot or OfficeChannel()
    robot.office = office
    robot.channel = channel
    robot.url = url
    robot.enabled = bool(enabled)
    if secret:
        robot.secret_sealed = seal(secret)
    if channel != Channel.DINGTALK:
        robot.secret_sealed = ""
    try:
        with transaction.atomic():
            robot.save()
    except IntegrityError:  # a concurrent write of the same office and channel
        raise _refuse("channel", _("This office already has a robot on this channel."), "unique") from None
    return robot


def office_channel_delete(*, actor: Any, robot: OfficeChannel) -> None:
    if not robot_may_edit(actor=actor, office=robot.office):
        raise PermissionDenied(_("Only the office's managers set up its chat robots."))
    robot.delete()


def channel_preference_check(*, actor: Any, user: Any, channel: str) -> None:
    if actor is None or not actor.is_active or not actor.is_staff or (actor.pk != user.pk and not actor.is_superuser):
        raise PermissionDenied(_("People choose the channels of their own notices."))
    if channel not in Channel.values:
        raise _refuse("channel", _("Choose e-mail, WeCom or DingTalk."), "invalid_choice")


def channel_preference_clean(
    *, actor: Any, user: Any, channel: str, preference: ChannelPreference | None = None
) -> None:
    """Every refusal a channel choice can meet."""
    channel_preference_check(actor=actor, user=user, channel=channel)
    if preference is not None and preference.pk:
        if preference.user_id != user.pk:
            raise PermissionDenied(_("People choose the channels of their own notices."))
        if ChannelPreference.objects.filter(user=user, channel=channel).exclude(pk=preference.pk).exists():
            raise _refuse("channel", _("You already have a choice for this channel."), "unique")


@transaction.atomic
def channel_preference_set(
    *, actor: Any, user: Any, channel: str, enabled: bool, preference: ChannelPreference | None = None
) -> ChannelPreference:
    """``user`` gets (or not) their notices on ``channel``; one row per person and channel.

    With ``preference``, that row is changed (its channel too); without, the person's
    row for the channel is created or changed.
    """
    channel_preference_clean(actor=actor, user=user, channel=channel, preference=preference)
    if preference is not None and preference.pk:
        preference.channel, preference.enabled = channel, bool(enabled)
        preference.save(update_fields=["channel", "enabled", "updated_at"])
        return preference
    preference, _created = ChannelPreference.objects.update_or_create(
        user=user, channel=channel, defaults={"enabled": bool(enabled)}
    )
    return preference


def channel_preference_delete(*, actor: Any, preference: ChannelPreference) -> None:
    channel_preference_check(actor=actor, user=preference.user, channel=preference.channel)
    preference.delete()
