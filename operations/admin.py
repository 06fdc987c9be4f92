"""The admins of the libraries (auth groups, Celery beat schedules, login attempts) under the
rule every change list of ours follows: only the filters it offers (``chains.admin_lookups``).

This app is installed last, so every other admin module has registered its models by now.
"""

from __future__ import annotations

from django.contrib import admin

from chains.admin_lookups import OfferedLookupsOnlyMixin

for _model, _model_admin in list(admin.site._registry.items()):
    if not isinstance(_model_admin, OfferedLookupsOnlyMixin):
        _cls = type(_model_admin)
        admin.site.unregister(_model)
        admin.site.register(
            _model, type(_cls.__name__, (OfferedLookupsOnlyMixin, _cls), {"__module__": _cls.__module__})
        )
