"""``Authorization: Bearer <key>`` and what a key may do.

A missing, wrong or revoked key is 401; a read-only key's write is 403. The
request's user is the key's service account, so services record it in history.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from api.api_keys import api_key_for_secret
from api.models import ApiKey


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request):  # type: ignore[no-untyped-def]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _sep, token = header.strip().partition(" ")
        if scheme.lower() != self.keyword:
            return None
        token = token.strip()
        if not token:
            raise exceptions.AuthenticationFailed(_("No API key after “Bearer”."))
        api_key = api_key_for_secret(token)
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        user = api_key.user
        user.office = api_key.office  # already loaded with the key: no second query
        return user, api_key

    def authenticate_header(self, request) -> str:  # type: ignore[no-untyped-def]
        return 'Bearer realm="api"'


class HasApiKey(BasePermission):
    """A live key is required; a read-only key may only read."""

    message = _("This API key is read-only.")

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False
        return request.method in SAFE_METHODS or not api_key.read_only
