"""Serving evidence files: only to offices that may see the project, always as a download, never run.

The same check serves the admin and the API: an office that may not see the
project gets 404. The answer is an attachment with ``X-Content-Type-Options:
nosniff`` and a sandboxing Content-Security-Policy, so a browser never renders or
runs what was uploaded.
"""

from __future__ import annotations

import uuid

from django.http import FileResponse, Http404, HttpRequest

from crm.access import office_sees_everything
from crm.models import Office
from ledger.models import EvidenceFile


def evidence_for(*, office: Office | None, pk: object, is_superuser: bool = False) -> EvidenceFile:
    """The evidence file ``pk`` if ``office`` may see its project; otherwise :class:`Http404`."""
    qs = EvidenceFile.objects.select_related("entry")
    if not office_sees_everything(office, is_superuser=is_superuser):
        if office is None:
            raise Http404
        qs = qs.filter(office=office)
    try:
        return qs.get(pk=uuid.UUID(str(pk)))
    except (EvidenceFile.DoesNotExist, ValueError):
        raise Http404 from None


def evidence_response(evidence: EvidenceFile) -> FileResponse:
    response = FileResponse(
        evidence.file.open("rb"), as_attachment=True, filename=evidence.name, content_type="application/octet-stream"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def evidence_download(request: HttpRequest, pk: str) -> FileResponse:
    user = request.user
    evidence = evidence_for(office=user.office, pk=pk, is_superuser=user.is_superuser)  # type: ignore[union-attr]
    return evidence_response(evidence)
