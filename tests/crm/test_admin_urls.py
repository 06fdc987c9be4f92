"""crm.admin_urls.KeyedUrl: one reversed URL for many keys, the URLs ``reverse`` gives."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.utils import quote
from django.urls import NoReverseMatch, reverse

from crm.admin_urls import KeyedUrl

KEYS = [
    uuid.uuid4(),
    42,
    "plain-key_1",
    "a b/c?d",
    "a_5Fb",
    "0StandInKey0",
    "晋阳",
    'x"<y>&z',
]


@pytest.mark.parametrize("viewname", ["admin:crm_enterprise_change", "admin:chains_park_delete"])
def test_each_key_gets_the_url_reverse_gives_for_it_quoted(viewname) -> None:  # type: ignore[no-untyped-def]
    url = KeyedUrl(viewname, current_app="admin")
    for key in KEYS:
        assert url(key) == reverse(viewname, args=(quote(key),), current_app="admin"), key


def test_finish_is_applied_to_every_url_and_keeps_the_stand_in_out() -> None:
    def with_query(url: str) -> str:
        return f"{url}?_changelist_filters=q%3D0StandInKey0"

    url = KeyedUrl("admin:crm_enterprise_change", finish=with_query)
    for key in KEYS:
        assert url(key) == with_query(reverse("admin:crm_enterprise_change", args=(quote(key),))), key


def test_a_view_that_does_not_reverse_raises_as_reverse_does() -> None:
    url = KeyedUrl("admin:crm_no_such_change")
    with pytest.raises(NoReverseMatch):
        url("1")
