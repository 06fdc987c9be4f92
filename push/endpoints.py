"""Writes on webhook endpoints: register, change, remove, rotate the secret, replay.

The same functions serve the admin, the API and the shell, so the URL check (no
private address, https) and the events check are made once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.access import office_sees_everything
from crm.changes import HORIZON_SQL
from crm.models import ChangeEntry, Office
from crm.outbound import AddressRefused, url_check
from crm.sealing import seal, unseal
from push import signing
from push.models import WebhookEndpoint, WebhookMessage

CHANGE_TYPES = ("enterprise", "contact", "interaction", "project", "follow_up")
OPS = ("upsert", "delete")
EVENT_TYPES = tuple(f"{t}.{op}" for t in CHANGE_TYPES for op in OPS)
ALL_EVENTS = "*"


def events_clean(events: Any) -> list[str]:
    """A list of known event types (or ``["*"]``), each once; a ValidationError on ``events`` otherwise."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ValidationError({"events": [ValidationError(_('Give a list of event types, or ["*"].'), code="invalid")]})
    unknown = [e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        raise ValidationError(
            {
                "events": [
                    ValidationError(
                        _("Unknown event type %(e)s; use <type>.upsert, <type>.delete or *.") % {"e": unknown[0]},
                        code="invalid_choice",
                    )
                ]
            }
        )
    return [ALL_EVENTS] if ALL_EVENTS in events else list(dict.fromkeys(events))


def url_clean(url: Any) -> str:
    """The URL if we would call it now (https, resolves to allowed addresses); a ValidationError on ``url``."""
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise ValidationError({"url": [ValidationError(_("Enter an https:// URL."), code="invalid")]})
    url = url.strip()
    try:
        url_check(url)
    except AddressRefused as exc:
        raise ValidationError({"url": [ValidationError(str(exc), code=exc.code)]}) from None
    return url


def endpoint_office_ids(endpoint: WebhookEndpoint) -> list[int] | None:
    """The offices whose feed rows the endpoint may see (None: all) — what ``changes/`` shows its office."""
    office = endpoint.office
    return None if office_sees_everything(office) else [office.pk]


def _feed_start() -> tuple[int, int]:
    """A cursor just below every transaction still running: later changes are delivered, earlier ones not."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {HORIZON_SQL}")
            return int(cursor.fetchone()[0]) - 1, 2**62
    last = ChangeEntry.objects.order_by("-txid", "-seq").values_list("txid", "seq").first()
    return (int(last[0]), int(last[1])) if last else (0, 0)


@transaction.atomic
def endpoint_create(
    *,
    office: Office,
    url: str,
    events: Sequence[str],
    description: str = "",
    enabled: bool = True,
    external_id: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown this once)."""
    secret = signing.secret_new()
    txid, seq = _feed_start()
    endpoint = WebhookEndpoint.objects.create(
        office=office,
        url=url_clean(url),
        events=events_clean(list(events)),
        description=description,
        enabled=enabled,
        external_id=external_id,
        secret_sealed=seal(secret),
        cursor_txid=txid,
        cursor_seq=seq,
    )
    return endpoint, secret


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, **values: Any) -> WebhookEndpoint:
    """Change url, events, description, enabled or external_id; version +1. Enabling clears the failure."""
    if "url" in values:
        values["url"] = url_clean(values["url"])
    if "events" in values:
        values["events"] = events_clean(values["events"])
    for name, value in values.items():
        if name not in {"url", "events", "description", "enabled", "external_id"}:
            raise TypeError(f"not an endpoint field: {name}")
        setattr(endpoint, name, value)
    if values.get("enabled") is True:
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
        # Retries waiting for a long back-off start again now.
        endpoint.messages.filter(state=WebhookMessage.State.PENDING).update(next_attempt_at=timezone.now())
    endpoint.version = F("version") + 1
    endpoint.save()
    endpoint.refresh_from_db()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def secret_grace() -> timedelta:
    return timedelta(hours=int(settings.WEBHOOK_SECRET_GRACE_HOURS))


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """A new signing secret; the old one keeps signing too for the grace period (two ``v1,`` signatures)."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.secret_new()
    endpoint.previous_secret_sealed = endpoint.secret_sealed
    endpoint.previous_secret_expires_at = now + secret_grace()
    endpoint.secret_sealed = seal(secret)
    endpoint.version = F("version") + 1
    endpoint.save()
    endpoint.refresh_from_db()
    return endpoint, secret


def endpoint_signing_keys(endpoint: WebhookEndpoint, *, now: datetime) -> list[bytes]:
    """The keys a delivery is signed with now: the current secret, and the previous one in its grace period."""
    keys = [signing.secret_key(unseal(endpoint.secret_sealed))]
    if (
        endpoint.previous_secret_sealed
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        keys.append(signing.secret_key(unseal(endpoint.previous_secret_sealed)))
    return keys


# --- Replay (admin) ---------------------------------------------------------------------------


def _replay(qs: models.QuerySet[WebhookMessage], now: datetime) -> int:
    """Owe the messages again (same ``webhook-id``); they go out in feed order among what is pending."""
    return qs.update(state=WebhookMessage.State.PENDING, next_attempt_at=now, delivered_at=None, updated_at=now)


def message_replay(*, message: WebhookMessage, now: datetime | None = None) -> int:
    return _replay(WebhookMessage.objects.filter(pk=message.pk), now or timezone.now())


def endpoint_replay_since(*, endpoint: WebhookEndpoint, since: datetime, now: datetime | None = None) -> int:
    """Send again every message of ``endpoint`` first recorded at or after ``since``."""
    return _replay(WebhookMessage.objects.filter(endpoint=endpoint, created_at__gte=since), now or timezone.now())
