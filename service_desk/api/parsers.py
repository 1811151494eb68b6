"""Request body parsers with a size limit (DRF reads JSON bodies without Django's upload limits)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import parsers

from service_desk.api.errors import ApiError

# Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB unless the operator raises it) refuses larger JSON
# bodies first, so base64 attachments in JSON suit small files; send large ones as multipart. This
# ceiling applies when an operator raises Django's limit: one 25 MB file in base64 is about 33.4 MB.
DEFAULT_MAX_JSON_BYTES = 36 * 1024 * 1024
# Multipart: up to 10 attachments of 25 MB plus the fields.
DEFAULT_MAX_MULTIPART_BYTES = 10 * 25 * 1024 * 1024 + 1024 * 1024


def _check_length(parser_context: dict | None, limit: int) -> None:
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {}) if request is not None else {}
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        length = 0
    if length > limit:
        raise ApiError(
            "too_large",
            _("The request body is larger than %(mb)d MB.") % {"mb": limit // (1024 * 1024)},
            status=413,
        )


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):  # noqa: ANN001, ANN201
        _check_length(parser_context, getattr(settings, "API_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES))
        return super().parse(stream, media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):  # noqa: ANN001, ANN201
        _check_length(parser_context, getattr(settings, "API_MAX_MULTIPART_BYTES", DEFAULT_MAX_MULTIPART_BYTES))
        return super().parse(stream, media_type, parser_context)
