"""A Django e-mail backend that keeps one file per Message-ID: a mailbox that deduplicates.

``EMAIL_BACKEND=recruitment.email_files.MessageIdFileBackend`` with ``EMAIL_FILE_PATH``
writes every message to ``<Message-ID>.eml`` (written aside, then renamed into
place, so a reader never sees half a message). A message handed over a second
time replaces its own file and is logged, so the directory holds exactly one copy
of each e-mail.

Why it exists: reminders are sent at least once and marked sent right after the
hand-off; a worker killed in the instant between the two hands the same message
(same Message-ID) over again once its lease expires. No mail transport can be
part of the database transaction, so "exactly once" ends where the receiver
recognises the message it already has, as mail systems that deduplicate by
Message-ID do. This backend is that receiver for a mail directory (tests, the
full-stack check, a local archive); Django's own file backend appends instead.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class MessageIdFileBackend(BaseEmailBackend):
    def __init__(self, *args: Any, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)
        self.directory.mkdir(parents=True, exist_ok=True)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        written = 0
        for email in email_messages:
            message = email.message()
            message_id = str(message["Message-ID"]).strip()
            target = self.directory / (_UNSAFE.sub("_", message_id.strip("<>")) + ".eml")
            if target.exists():
                logger.warning("message %s handed over again: one copy kept", message_id)
            partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            partial.write_bytes(message.as_bytes(linesep="\n"))
            os.replace(partial, target)
            written += 1
        return written
