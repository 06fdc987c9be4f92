"""``{% nav_sidebar %}``: the admin's navigation sidebar, rendered once for each distinct input.

The sidebar of an admin page lists every model the user may see, some forty rows, and
rendering it took 3.7 ms of a report page (the dashboard's whole budget is 50 ms). It
depends only on the app list (``available_apps``: names, links, permissions), the
request's path (which row is the current one) and the language, so the HTML is kept
per distinct (language, path, app list) and written again as it is. The app list
itself is still built for every request by ``AdminSite.each_context``, so a change of
permission, office or language shows at once: it changes the key. A template of ours
overriding ``admin/nav_sidebar.html`` or ``admin/app_list.html`` to read more of the
context would have to add what it reads to the key.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

# A process holds a few sidebars: one per kind of user, language and report page. When
# it holds more than this many (paths of many gap maps), it starts again.
MAX_KEPT = 256
_kept: dict[Hashable, SafeString] = {}


def _app_key(apps: Iterable[Mapping[str, Any]]) -> tuple[Hashable, ...]:
    """Everything ``admin/app_list.html`` reads of the app list, as plain values."""
    return tuple(
        (
            app["app_label"],
            app["app_url"],
            str(app["name"]),
            tuple(
                (
                    model["object_name"],
                    str(model["name"]),
                    model.get("admin_url"),
                    model.get("add_url"),
                    model.get("view_only"),
                )
                for model in app["models"]
            ),
        )
        for app in apps
    )


@register.simple_tag(takes_context=True)
def nav_sidebar(context: template.Context) -> SafeString:
    """What ``{% include "admin/nav_sidebar.html" %}`` writes for this context."""
    request = context["request"]
    apps = context.get("available_apps") or []
    key = (get_language(), request.path, _app_key(apps))
    html = _kept.get(key)
    if html is None:
        html = mark_safe(  # noqa: S308 - rendered by the template engine, escaped there
            render_to_string("admin/nav_sidebar.html", {"available_apps": apps}, request=request)
        )
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[key] = html
    return html
