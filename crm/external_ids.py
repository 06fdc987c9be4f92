"""The one rule for a partner's own record id (``external_id``), in a body, a URL or a file.

An external id must be usable as it is in ``PUT …/external/<external_id>/``: one
URL path segment, never trimmed or rewritten on the way. So it is 1 to 128
characters, each a letter, a mark or a digit of any script (RFC 3987 allows them
in a path) or one of ``- . _ ~ ! $ & ' ( ) * + , ; = : @`` (RFC 3986's characters
of a path segment that need no percent-encoding). Not allowed: spaces (inside or
at either end), ``/``, ``?``, ``#``, ``%``, quotes, control characters, and the
ids ``.`` and ``..`` (clients resolve them as "this" and "parent" folder, so no
URL reaches them). Pure.

Every path asks this module: the API's serializers and URLs, imports, the admin
forms (:class:`crm.admin_writes.ExternalIdFormMixin`, which also stops Django's
form fields from trimming the value) and, under them all, every service write
(:func:`crm.records.record_validate`).
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

EXTERNAL_ID_MAX = 128  # also in _PLAIN below
EXTERNAL_ID_PUNCTUATION = "-._~!$&'()*+,;=:@"
EXTERNAL_ID_RULE = (
    "1 to 128 characters: letters, marks and digits of any script and `- . _ ~ ! $ & ' ( ) * + , ; = : @`; "
    "no spaces, no `/ ? # %`, not `.` or `..`. Never trimmed: the same id in a body and in a URL."
)


# The everyday id (ASCII letters, digits and the allowed punctuation): recognised with
# one match; any other value is looked at character by character below.
_PLAIN = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]{1,128}")


def _allowed(char: str) -> bool:
    return char in EXTERNAL_ID_PUNCTUATION or unicodedata.category(char)[0] in "LMN"


def external_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be an external id (a message for the user), or None."""
    if type(value) is str and _PLAIN.fullmatch(value) and value not in (".", ".."):
        return None
    if not isinstance(value, str) or not value:
        return _("Give the record's id in your system (1 to 128 characters).")
    if len(value) > EXTERNAL_ID_MAX:
        return _("An external id has at most %(max)d characters.") % {"max": EXTERNAL_ID_MAX}
    if value in (".", ".."):
        return _("“.” and “..” cannot be external ids: no URL can name them.")
    if value != value.strip():
        return _("An external id cannot begin or end with a space; it is never trimmed.")
    bad = sorted({c for c in value if not _allowed(c)})
    if bad:
        return _(
            "An external id may hold letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ only; not %(chars)s."
        ) % {"chars": " ".join(repr(c) for c in bad[:5])}
    return None


def external_id_validate(value: object) -> None:
    """Raise ``ValidationError`` (code ``invalid``) unless ``value`` is blank ("no external id")
    or follows the rule."""
    if value == "" or value is None:
        return
    problem = external_id_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid")
