"""``{% figure url value %}``: a report figure, linked to the list behind it when there is one.

The dashboard prints a few hundred figures; a tag costs a fraction of an
``{% include %}`` of a one-line template (a context push and a template render
each), and writes the same HTML: the value localised and escaped as ``{{ value }}``
would be, inside ``<a href="{{ url }}">`` when ``url`` is set.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import render_value_in_context
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag(takes_context=True)
def figure(context: template.Context, url: str | None, value: Any) -> SafeString:
    text = mark_safe(render_value_in_context(value, context))  # noqa: S308 - escaped by render_value_in_context
    if url:
        return format_html('<a href="{}">{}</a>', url, text)
    return text
