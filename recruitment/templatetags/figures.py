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
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag(takes_context=True)
def figure(context: template.Context, url: str | None, value: Any) -> SafeString:
    return linked(url, render_value_in_context(value, context))


def linked(url: str | None, html: str) -> SafeString:
    """``html`` (written already, escaped) inside ``<a href="url">`` when there is a URL: a
    figure's markup, for the tags that write rows of figures too."""
    return SafeString(f'<a href="{conditional_escape(url)}">{html}</a>' if url else html)
