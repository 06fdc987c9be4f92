"""Secrets the app must use again (webhook signing secrets, robot secrets), sealed at rest.

A signing secret cannot be stored as a hash like an API key: the app computes an
HMAC with it on every delivery. It is sealed with Fernet (AES-128-CBC + HMAC,
``cryptography``) under a key derived from the ``SEALING_KEYS`` setting (by default
the Django secret key), so a copy of the database alone does not reveal it. The
first key seals; every key opens, so keys can be rotated.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SealBroken(Exception):
    """The sealed value was made with a key that is no longer configured, or was altered."""


def _fernet() -> MultiFernet:
    keys = [
        Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"chain-recruit sealing\0" + str(k).encode()).digest()))
        for k in settings.SEALING_KEYS
    ]
    return MultiFernet(keys)


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SealBroken("sealed with an unknown key or altered") from exc
