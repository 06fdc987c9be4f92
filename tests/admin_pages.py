"""What Django admin's own templates write, for tests that hold our faster paths to it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.template import RequestContext, Template
from django.test import RequestFactory
from django.utils import translation


def sidebar_as_django_writes_it(user: Any, path: str, language: str) -> str:
    """The admin's sidebar for ``user`` on ``path`` in ``language``, through Django's include."""
    request = RequestFactory().get(path)
    request.user = user
    with translation.override(language):
        context = RequestContext(request, admin.site.each_context(request))
        return Template('{% include "admin/nav_sidebar.html" %}').render(context)
