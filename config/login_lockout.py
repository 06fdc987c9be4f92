"""Admin login lockout (django-axes) with two limits.

django-axes counts failures per set of ``AXES_LOCKOUT_PARAMETERS`` and compares the
highest count with one limit. We want two limits: a user name tried from one address
locks after ``AXES_FAILURE_LIMIT`` failures, and one address trying any number of
user names (password spraying: one guess per account, never five on the same one)
locks after ``AXES_IP_FAILURE_LIMIT`` failures in all. The per-address count is
scaled onto the first limit, so that axes' own comparison (``failures >= limit``)
holds exactly when either count reaches its own limit.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class LoginLockoutHandler(AxesDatabaseHandler):
    """``AXES_LOCKOUT_PARAMETERS`` is ``[["username", "ip_address"], "ip_address"]``:
    the first set is limited by ``AXES_FAILURE_LIMIT``, the second by ``AXES_IP_FAILURE_LIMIT``."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        per_set = [
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        ]
        if not per_set:
            return 0
        user_limit = int(settings.AXES_FAILURE_LIMIT)
        ip_limit = max(int(getattr(settings, "AXES_IP_FAILURE_LIMIT", user_limit)), 1)
        scaled = [per_set[0], *(count * user_limit // ip_limit for count in per_set[1:])]
        # count * u // i >= u exactly when count >= i: each set locks at its own limit.
        return max(scaled)
