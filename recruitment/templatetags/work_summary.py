"""The admin index's work summary: links to the report and tool pages, and the user's follow-up counts.

The report and tool pages are optional parts of the URL configuration: a link
whose URL name does not resolve is left out, so the index never breaks because a
page is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from recruitment.admin_counts import followup_counts_for_user
from recruitment.models import FollowUp

register = template.Library()


@dataclass(frozen=True)
class WorkLink:
    id: str
    label: str
    url: str


# (element id, URL name, label) of the pages linked from the index, in order.
PAGES: tuple[tuple[str, str, Any], ...] = (
    ("link-dashboard", "reports:dashboard", _("Pipeline dashboard")),
    ("link-chain-maps", "reports:chain-maps", _("Chain gap maps")),
    ("link-import", "tools:import", _("Import from Excel or CSV")),
    ("link-export", "tools:export", _("Export to Excel")),
    ("link-duplicates", "tools:duplicates", _("Duplicate enterprises")),
)


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def my_follow_ups_urls(user) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    """The "my follow-ups" page (all open, and past due only), or else the follow-up list
    filtered to the user's open ones."""
    url = _url("admin:recruitment_myfollowup_changelist")
    if url:
        return url, f"{url}?{urlencode({'due': 'overdue'})}"
    url = _url("admin:recruitment_followup_changelist")
    if url and user.has_perm("recruitment.view_followup"):
        return f"{url}?{urlencode({'assignee__id__exact': user.pk, 'status__exact': FollowUp.Status.OPEN})}", None
    return None, None


@register.inclusion_tag("admin/recruitment/includes/work_summary.html", takes_context=True)
def work_summary(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    user = request.user
    links = [WorkLink(id=i, label=str(label), url=url) for i, name, label in PAGES if (url := _url(name))]
    open_url, overdue_url = my_follow_ups_urls(user)
    return {
        "links": links,
        "counts": followup_counts_for_user(user=user),
        "my_follow_ups_url": open_url,
        "my_overdue_url": overdue_url,
    }
