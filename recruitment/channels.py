"""Where people read their notices: e-mail, a WeCom group robot, a DingTalk custom robot.

Every notification the product sends is a :class:`~recruitment.models.ReminderDelivery`
row with a ``channel``; the claim writes one row per channel the office has switched
on and the person has not switched off (:func:`channels_for`), under the outbox's
unique constraints, so each channel gets a notice exactly once and fails, retries
and shows in the deliveries list on its own. A new kind of notification only has
to be composed as an e-mail (subject and body); the robots get the same text as
markdown with the admin link (:func:`notice_markdown`).

Both robot APIs answer HTTP 200 with an ``errcode`` in JSON; 0 is success. Rate
limits (WeCom 45009, DingTalk 130101) and system-busy answers are retried with the
outbox's back-off; a wrong key or signature is not.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import urllib.parse
from collections.abc import Iterable

import orjson
from django.db.models import Q

from crm.outbound import AddressRefused, OutboundSession
from crm.sealing import unseal
from recruitment.models import ChannelPreference, OfficeChannel, ReminderDelivery

Channel = ReminderDelivery.Channel
WECOM_MARKDOWN_MAX_BYTES = 4096
DINGTALK_MARKDOWN_MAX_BYTES = 20000
# errcodes worth another try: rate limits and "system busy".
WECOM_TRANSIENT = {-1, 45009, 45033}
DINGTALK_TRANSIENT = {-1, 130101, 130102}


class ChannelError(Exception):
    """A robot refused or could not be reached; ``transient`` errors are retried."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def channels_for(*, office_id: int | None, user_id: int | None) -> list[str]:
    """The channels a notice for ``user_id`` in ``office_id`` goes to: e-mail and the office's robots,
    minus those the person switched off."""
    channels = [Channel.EMAIL.value]
    if office_id is not None:
        channels += list(
            OfficeChannel.objects.filter(office_id=office_id, enabled=True)
            .order_by("channel")
            .values_list("channel", flat=True)
        )
    if user_id is not None:
        off = set(ChannelPreference.objects.filter(user_id=user_id, enabled=False).values_list("channel", flat=True))
        channels = [c for c in channels if c not in off]
    return channels


def office_robots(*, office_ids: Iterable[int]) -> list[tuple[int, str]]:
    """(office id, channel) of every enabled robot of the offices."""
    return list(
        OfficeChannel.objects.filter(Q(office_id__in=list(office_ids)), enabled=True)
        .order_by("office_id", "channel")
        .values_list("office_id", "channel")
    )


def notice_markdown(*, subject: str, body: str, link: str) -> str:
    """The e-mail's text as robot markdown: the subject as a heading, the body, the admin link."""
    lines = [f"### {subject}", "", body.strip()]
    if link:
        lines += ["", f"[打开 / Open]({link})"]
    return "\n".join(lines)


def _truncate(text: str, max_bytes: int) -> str:
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 4].decode("utf-8", errors="ignore") + " …"


def dingtalk_signed_url(url: str, secret: str, *, timestamp_ms: int | None = None) -> str:
    """The robot URL with ``timestamp`` and ``sign`` = urlencode(base64(HMAC-SHA256(secret, "ts\\nsecret")))."""
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}"


def robot_send(*, robot: OfficeChannel, title: str, markdown: str, session: OutboundSession | None = None) -> str:
    """Post ``markdown`` to the robot; a short description of the answer, or :class:`ChannelError`."""
    if robot.channel == Channel.WECOM:
        url = robot.url
        payload = {"msgtype": "markdown", "markdown": {"content": _truncate(markdown, WECOM_MARKDOWN_MAX_BYTES)}}
        transient_codes = WECOM_TRANSIENT
    elif robot.channel == Channel.DINGTALK:
        url = robot.url
        if robot.secret_sealed:
            url = dingtalk_signed_url(url, unseal(robot.secret_sealed))
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": title[:100], "text": _truncate(markdown, DINGTALK_MARKDOWN_MAX_BYTES)},
        }
        transient_codes = DINGTALK_TRANSIENT
    else:
        raise ChannelError(f"not a robot channel: {robot.channel}", transient=False)
    own = session is None
    session = session or OutboundSession()
    try:
        answer = session.post(url, orjson.dumps(payload), {})
    except AddressRefused as exc:
        raise ChannelError(f"refused: {exc}", transient=False) from None
    except OSError as exc:
        raise ChannelError(f"{type(exc).__name__}: {exc}", transient=True) from None
    finally:
        if own:
            session.close()
    if answer.status == 429 or answer.status >= 500:
        raise ChannelError(f"HTTP {answer.status}: {answer.excerpt[:200]}", transient=True)
    if answer.status != 200:
        raise ChannelError(f"HTTP {answer.status}: {answer.excerpt[:200]}", transient=False)
    try:
        result = orjson.loads(answer.excerpt)
        code = int(result.get("errcode", -1))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        raise ChannelError(f"not a robot answer: {answer.excerpt[:200]}", transient=True) from None
    if code != 0:
        raise ChannelError(f"errcode {code}: {result.get('errmsg', '')}", transient=code in transient_codes)
    return f"{robot.get_channel_display()} {robot.office_id}"
