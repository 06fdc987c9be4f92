"""Deploy check: demo logins that still open with the password printed in the README.

``manage.py check --deploy`` (``make check-deploy``) reports them as an error. It
reads the database the site runs on; a database that cannot be read yet (not
migrated, not reachable) has no demo logins to report.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.db import DatabaseError
from django.db.models import Q

PUBLISHED_DEMO_PASSWORD_ID = "seeds.E001"


def demo_logins_with_published_password() -> list[str]:
    """User names of active demo logins whose password is still the published one."""
    from crm.models import User
    from seeds.demo_loader import DEFAULT_DEMO_PASSWORD, demo_usernames

    demo = User.objects.filter(Q(office__is_demo=True) | Q(username__in=demo_usernames()), is_active=True)
    return [user.username for user in demo.order_by("username") if user.check_password(DEFAULT_DEMO_PASSWORD)]


@register(Tags.security, deploy=True)
def check_published_demo_password(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        found = demo_logins_with_published_password()
    except DatabaseError:
        return []
    if not found:
        return []
    return [
        Error(
            f"{len(found)} demo login(s) still have the published demo password: {', '.join(found)}.",
            hint="Deactivate them or give them another password (manage.py changepassword NAME); "
            "set DEMO_PASSWORD before `seed --demo` on a public server.",
            id=PUBLISHED_DEMO_PASSWORD_ID,
        )
    ]
