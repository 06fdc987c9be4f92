"""Office API keys: issue (shown once), revoke, and find the key a request presents.

A key looks like ``cr_<prefix>_<secret>``. Only its SHA-256 is stored: the secret
has 256 bits of entropy, so a slow password hash would add latency to every call
without adding safety, and the lookup by hash needs no per-key comparison.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import ApiKey
from crm.models import Office

KEY_PREFIX = "cr_"
# last_used_at is refreshed at most this often, so reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key and its secret: the only moment the secret exists outside the client."""

    api_key: ApiKey
    raw: str


def api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def api_key_create(*, office: Office, label: str = "", read_only: bool = False, created_by=None) -> IssuedKey:  # type: ignore[no-untyped-def]
    """Issue a key for ``office`` with a service account of its own (inactive: no login)."""
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    user_model = get_user_model()
    user = user_model(
        username=f"api-{prefix}",
        office=office,
        is_active=False,
        display_name=_("API key %(prefix)s (%(office)s)") % {"prefix": prefix, "office": office.code},
    )
    user.set_unusable_password()
    user.save()
    api_key = ApiKey.objects.create(
        office=office,
        user=user,
        label=label,
        prefix=prefix,
        key_hash=api_key_hash(raw),
        read_only=read_only,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
    )
    return IssuedKey(api_key=api_key, raw=raw)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once; revoking twice keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_for_secret(raw: str) -> ApiKey | None:
    """The active key whose secret is ``raw`` (with office and service account), or None."""
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    key_hash = api_key_hash(raw)
    if connection.vendor == "postgresql" and _key_query() is not None:
        api_key = _active_key(key_hash)
    else:
        api_key = (
            ApiKey.objects.select_related("office", "user").filter(key_hash=key_hash, revoked_at__isnull=True).first()
        )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # A conditional update: concurrent requests of one key write it once.
        ApiKey.objects.filter(pk=api_key.pk).exclude(last_used_at__gt=now - LAST_USED_RESOLUTION).update(
            last_used_at=now
        )
        api_key.last_used_at = now
    return api_key


def _active_key(key_hash: str) -> ApiKey | None:
    """The live key with this hash, its office and its service account, in one statement.

    Every API request runs this lookup. Written once from the models' own column
    lists (``_key_query``) instead of compiling the same ORM query on every request:
    compiling it and building the three instances cost more than the query itself.
    PostgreSQL only: psycopg returns each column as the field holds it (aware times,
    UUIDs), so ``Model.from_db`` takes the row as it is.
    """
    names, sql = _key_query()  # type: ignore[misc]
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    alias = connection.alias
    key_names, office_names, user_names = names
    first, second = len(key_names), len(key_names) + len(office_names)
    api_key = ApiKey.from_db(alias, key_names, row[:first])
    ApiKey.office.field.set_cached_value(api_key, Office.from_db(alias, office_names, row[first:second]))
    ApiKey.user.field.set_cached_value(api_key, get_user_model().from_db(alias, user_names, row[second:]))
    return api_key


@functools.cache
def _key_query() -> tuple[tuple[list[str], list[str], list[str]], str] | None:
    """The statement and the field names of its columns; None when a field's value
    would need converting on the way from the database (the ORM does that)."""
    qn = connection.ops.quote_name
    models = (ApiKey, Office, get_user_model())
    fields = [[f for f in m._meta.concrete_fields] for m in models]
    if any(f.get_db_converters(connection) for fs in fields for f in fs):
        return None
    tables = [qn(m._meta.db_table) for m in models]
    select = ", ".join(f"{t}.{qn(f.column)}" for t, fs in zip(tables, fields, strict=True) for f in fs)
    key, office, user = tables
    sql = (
        f"SELECT {select} FROM {key} "
        f"JOIN {office} ON {office}.{qn(Office._meta.pk.column)} = {key}.{qn(ApiKey.office.field.column)} "
        f"JOIN {user} ON {user}.{qn(get_user_model()._meta.pk.column)} = {key}.{qn(ApiKey.user.field.column)} "
        f"WHERE {key}.{qn(ApiKey._meta.get_field('key_hash').column)} = %s "
        f"AND {key}.{qn(ApiKey._meta.get_field('revoked_at').column)} IS NULL"
    )
    names = tuple([f.attname for f in fs] for fs in fields)
    return names, sql  # type: ignore[return-value]
