"""Serving a stored attachment: the one way the workspace, the portal and the API hand out files.

Always a download that no browser renders in place: ``Content-Disposition: attachment`` with a
cleaned file name, HTML, SVG and XML sent as ``application/octet-stream``, ``nosniff``, a sandbox
CSP for browsers that open it anyway, and never stored by a shared cache.
"""

from __future__ import annotations

from django.http import FileResponse, Http404

from tickets.domain.files import ACTIVE_CONTENT_TYPES, safe_filename
from tickets.models import Attachment


def attachment_response(attachment: Attachment) -> FileResponse:
    """The file of ``attachment`` (already read through a scoped selector); 404 when storage lost it."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise Http404("The file is missing.") from exc
    content_type = attachment.content_type or "application/octet-stream"
    if content_type in ACTIVE_CONTENT_TYPES:
        content_type = "application/octet-stream"
    response = FileResponse(
        handle, as_attachment=True, filename=safe_filename(attachment.filename), content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=0, no-store"
    return response
