"""Standard Webhooks signatures (https://www.standardwebhooks.com/), written here.

A secret is ``whsec_`` + base64 of 32 random bytes; the key is those bytes. The
signature of a message is ``v1,`` + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")).
While a rotated secret's grace period runs, the header carries one signature per
valid secret, separated by spaces: a receiver holding either secret accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"


def secret_new() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(*, key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(*, keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    return " ".join(signature(key=k, msg_id=msg_id, timestamp=timestamp, body=body) for k in keys)


def headers(*, keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a delivery."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys=keys, msg_id=msg_id, timestamp=timestamp, body=body),
    }
