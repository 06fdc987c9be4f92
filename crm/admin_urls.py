"""Change-page URLs for many records from one reversed URL.

A page links hundreds of records to their admin change pages (a change list's rows, a
report's panel). The URLs differ only in the record's key, and reversing is the costly
part, so :class:`KeyedUrl` reverses once with a stand-in key and puts each key in its
place. The key is quoted as the admin quotes it (``django.contrib.admin.utils.quote``);
one that ``reverse`` would then escape further (anything but letters, digits, ``_``
and ``-``; every UUID and integer key is plain) is reversed as Django would.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils.functional import cached_property

# A quoted key made only of these characters goes into a URL as it is (``reverse`` escapes
# nothing in it).
PLAIN_KEY = re.compile(r"[0-9A-Za-z_-]+")
_STAND_IN = "0StandInKey0"


class KeyedUrl:
    """The URL of ``viewname`` (one positional argument: a record's key) for any key.

    ``finish`` is applied to each URL as reversed (the change list adds its filters);
    it must leave the key where it is. A URL that does not reverse raises
    ``NoReverseMatch``, as ``reverse`` does.
    """

    def __init__(
        self, viewname: str, *, current_app: str | None = None, finish: Callable[[str], str] | None = None
    ) -> None:
        self.viewname = viewname
        self.current_app = current_app
        self.finish = finish

    def _reverse(self, key: str) -> str:
        url = reverse(self.viewname, args=(key,), current_app=self.current_app)
        return self.finish(url) if self.finish is not None else url

    @cached_property
    def _around(self) -> tuple[str, str] | None:
        """The URL before and after the key (its first place: the path comes before any query)."""
        head, found, tail = self._reverse(_STAND_IN).partition(_STAND_IN)
        return (head, tail) if found else None

    def __call__(self, pk: object) -> str:
        key = str(quote(pk))
        around = self._around
        if around is not None and PLAIN_KEY.fullmatch(key):
            return f"{around[0]}{key}{around[1]}"
        return self._reverse(key)
