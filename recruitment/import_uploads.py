"""Uploaded import files, kept between the preview and the import.

A browser cannot send a file input again, so the upload is kept on disk under a
random token while the user reads the preview; "Import" then runs on exactly the
file that was checked. Files live in ``IMPORT_STAGING_DIR`` (default
``VAR_DIR/imports``), one folder per user: a token found in another user's
folder is not found. Uploads older than a day are removed when the user uploads
again, and an upload is removed as soon as it has been imported.

Several web processes on one machine share the folder. Web processes on several
machines need it on a shared volume (or sticky sessions).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

MAX_AGE_SECONDS = 24 * 3600
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StagedUpload:
    token: str
    kind: str
    filename: str
    size: int
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


def staging_dir() -> Path:
    return Path(getattr(settings, "IMPORT_STAGING_DIR", None) or Path(settings.VAR_DIR) / "imports")


def _user_dir(user: Any) -> Path:
    return staging_dir() / str(int(user.pk))


def upload_stage(*, user: Any, kind: str, filename: str, data: bytes) -> StagedUpload:
    """Keep ``data`` for ``user`` and return its handle (a fresh random token)."""
    folder = _user_dir(user)
    folder.mkdir(parents=True, exist_ok=True)
    uploads_purge(user=user)
    token = secrets.token_hex(16)
    path = folder / f"{token}.bin"
    path.write_bytes(data)
    name = Path(filename).name[:200] or "upload"
    (folder / f"{token}.json").write_text(json.dumps({"kind": kind, "filename": name}), encoding="utf-8")
    return StagedUpload(token=token, kind=kind, filename=name, size=len(data), path=path)


def upload_get(*, user: Any, token: str) -> StagedUpload | None:
    """The user's upload under ``token``, or None (unknown, expired, or someone else's)."""
    if not _TOKEN.match(token or ""):
        return None
    folder = _user_dir(user)
    path, meta = folder / f"{token}.bin", folder / f"{token}.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    return StagedUpload(token=token, kind=info["kind"], filename=info["filename"], size=size, path=path)


def upload_discard(upload: StagedUpload) -> None:
    for path in (upload.path, upload.path.with_suffix(".json")):
        path.unlink(missing_ok=True)


def uploads_purge(*, user: Any, max_age: int = MAX_AGE_SECONDS) -> int:
    """Remove the user's uploads older than ``max_age`` seconds; returns how many files went."""
    folder = _user_dir(user)
    if not folder.is_dir():
        return 0
    limit = time.time() - max_age
    removed = 0
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
