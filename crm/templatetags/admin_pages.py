"""The change lists' "next page" link, which carries the last row's sort key (crm.admin_lists)."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.admin.views.main import PAGE_VAR

from crm.admin_lists import AFTER_PARAM

register = template.Library()


@register.simple_tag
def keyset_next_url(cl: Any) -> str:
    """The query string of the page after ``cl``'s, with the key to seek past; "" when there is none."""
    token = getattr(getattr(cl, "paginator", None), "next_after", None)
    if not token:
        return ""
    return cl.get_query_string({PAGE_VAR: cl.page_num + 1, AFTER_PARAM: token})
